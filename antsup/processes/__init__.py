"""The entry points of the tree's processes: thin loops that move bytes and call the core."""
