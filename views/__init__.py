"""What readers see, read once for both adapters: GraphQL (schema/) and REST (web/rest/) build
their answers from these views, never from each other's objects."""
