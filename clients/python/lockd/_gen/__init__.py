__all__ = ['ttypes', 'constants', 'LockService']
