"""The REST API (/api/v1): thin adapters over services/, beside GraphQL.

`schema` is imported first: it builds resolvers/, whose reload helpers the adapters share.
"""

import schema  # noqa: F401
