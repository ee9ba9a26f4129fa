from dataloaders.loaders import Loaders, SharedRows, shared_rows

__all__ = ["Loaders", "SharedRows", "shared_rows"]
