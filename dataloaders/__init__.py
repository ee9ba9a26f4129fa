from dataloaders.loaders import Loaders

__all__ = ["Loaders"]
