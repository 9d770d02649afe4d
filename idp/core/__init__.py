"""The shared kernel: the audit log, the clock and the base errors.

Any package of the provider may import it; it imports none of them.
"""
