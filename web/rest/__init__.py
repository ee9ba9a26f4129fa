"""The REST API (/api/v1): thin adapters over services/ and views/, beside GraphQL."""
