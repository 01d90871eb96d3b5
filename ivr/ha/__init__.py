"""One active engine per line: the lease, the standby that waits for it, and fencing."""
