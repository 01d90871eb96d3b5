"""The soak: the whole line run for hours with every feature mixed and faults injected, then every
call, message, callback, e-mail and published figure accounted for by an independent checker."""
