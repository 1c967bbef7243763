# Fleet-scale benchmark (issue 5, docs/performance.md): N light hosts = one real sshd each on
# 127.0.0.<2+i>, snapshot roots from the committed captures (tests/data/captures), kernels fetched
# into $(VMSCAPE_CACHE) on first use. `make bench` times ping, setup, audit.yml and
# remediate.yml --check at each size and writes <date>.json and .md into $(VMSCAPE_CACHE)/bench/results,
# or, with BENCH_RECORD=1, into bench/results (committed with the docs that cite them).
#   BENCH_SIZES=10,50,100,500  BENCH_REPS=3  BENCH_LARGE_REPS=1  BENCH_WAIT_LOAD=1.0  BENCH_RECORD=1
#   BENCH_ARGS="--no-report-files --forks 25 --keep ..."
.PHONY: bench bench-start bench-stop bench-status bench-captures bench-unit

BENCH_SIZES ?= 10,50,100,500
BENCH_REPS  ?= 3
# sizes above 100 hosts run BENCH_LARGE_REPS times (500 hosts: ~15 min per repetition on 2 cores)
BENCH_LARGE_REPS ?= 1
# wait before each run until the 1-minute load is below this (0: never wait); see docs/performance.md
BENCH_WAIT_LOAD ?= 0
BENCH_N     ?= 10
BENCH_ARGS  ?=
BENCH_RECORD ?=
BENCHCTL    := $(ROOT)/tools/bench/benchctl

bench: venv deps
	$(PY) -m tools.bench.run --sizes $(BENCH_SIZES) --reps $(BENCH_REPS) --large-reps $(BENCH_LARGE_REPS) \
	  --wait-load $(BENCH_WAIT_LOAD) $(if $(filter-out 0,$(BENCH_RECORD)),--record) $(BENCH_ARGS)

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
