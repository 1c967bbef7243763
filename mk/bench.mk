# Fleet-scale benchmark (issue 5, docs/performance.md): N light hosts = one real sshd each on
# 127.0.0.<2+i>, snapshot roots from the committed captures (tests/data/captures), kernels fetched
# into $(VMSCAPE_CACHE) on first use. `make bench` times ping, setup, audit.yml and
# remediate.yml --check at each size and writes <date>.json and .md into $(VMSCAPE_CACHE)/bench/results,
# or, with BENCH_RECORD=1, into bench/results (committed with the docs that cite them).
#   BENCH_SIZES=10,50,100  BENCH_REPS=3  BENCH_RECORD=1  BENCH_ARGS="--no-report-files --forks 25 --keep ..."
.PHONY: bench bench-start bench-stop bench-status bench-captures bench-unit

BENCH_SIZES ?= 10,50,100
BENCH_REPS  ?= 3
BENCH_N     ?= 10
BENCH_ARGS  ?=
BENCH_RECORD ?=
BENCHCTL    := $(ROOT)/tools/bench/benchctl

bench: venv deps
	$(PY) -m tools.bench.run --sizes $(BENCH_SIZES) --reps $(BENCH_REPS) $(if $(filter-out 0,$(BENCH_RECORD)),--record) $(BENCH_ARGS)

bench-start: venv deps
	$(BENCHCTL) start $(BENCH_N)

bench-stop: venv
	$(BENCHCTL) stop

bench-status: venv
	$(BENCHCTL) status

# rewrite tests/data/captures from the oracle's boot cache (boots what is missing)
bench-captures: venv deps
	$(PY) -m tools.bench.captures --export

bench-unit: venv
	$(BIN)/pytest -q tests/unit/tools/test_bench_fleet.py tests/unit/tools/test_bench_stats.py $(PYTEST_ARGS)
