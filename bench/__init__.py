"""The benchmark suite: the same workloads, measured the same way, against avtomat (embedded and
distributed) and, later, upstream avtomatika. Run it with ``python -m bench --help``.

Every process it starts is started by PID and stopped in a ``finally``; it reports figures and
asserts none.
"""
