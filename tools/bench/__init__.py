"""The benchmark fleet: N light hosts (one real sshd each on its own 127.0.x.y) whose inventory entries point
``vmscape_root`` at snapshot roots built from real oracle captures; ``make bench`` times ping, setup,
audit.yml and remediate.yml --check on them (docs/performance.md).

    tools/bench/benchctl start N | stop | status      the fleet
    python -m tools.bench.run                          the benchmark (make bench)
    python -m tools.bench.captures --export            refresh tests/data/captures from the oracle cache
"""
