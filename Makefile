# hggt: every target is a thin call of the `hggt` CLI or of Prefect's.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
INPUT  ?= data/sample-photos
OUT    ?= data/demo
PRESET ?= demo
DEST   ?= $(OUT)-hggt-layout
ARCH   ?= rrdb
PORT   ?= 4210
POOL   ?= hggt-local
# GPUs that tasks tagged gpu (enhancement, training) may use at once: the visible ones by default.
GPUS   ?= $(shell nvidia-smi -L 2>/dev/null | grep -c '^GPU')
API     = $(or $(PREFECT_API_URL),$(shell $(BIN)/hggt server url --port $(PORT) --keep))

# One Prefect history: make targets, `hggt` commands and deployments share Prefect's home ($PREFECT_HOME,
# else ~/.prefect) and the one local server hggt keeps there (hggt/cli/local_server.py). PORT is where
# that server starts when none runs yet; API is the address of the one that runs.
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
# The authors' code for the conformance suite (tests/conformance skips without it).
export HGGT_REFERENCE ?= $(abspath $(wildcard $(CURDIR)/../shared/reference/HGGT))

STAGES := ingest patches degrade train-enhancers enhance select synthesize-lr annotate-export annotate-serve \
	annotate-ingest split maps train-sr evaluate report export-dataset build annotator-train annotator-evaluate
.PHONY: setup chromium demo demo-enhancers demo-annotator test test-quick docs bench bench-scale gpu-check server server-stop worker deploy clean $(STAGES)

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[all,test]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/hggt sample-photos data/sample-photos
	$(BIN)/hggt build --input data/sample-photos --out data/demo --preset demo
	$(BIN)/hggt train-sr --out data/demo --preset demo --arch rrdb --mode psnr
	$(BIN)/hggt train-sr --out data/demo --preset demo --arch rrdb --mode pos
	$(BIN)/hggt train-sr --out data/demo --preset demo --arch rrdb --mode posneg
	$(BIN)/hggt evaluate --out data/demo --preset demo --run latest:pos
	$(BIN)/hggt evaluate --out data/demo --preset demo --run latest:posneg
	$(BIN)/hggt report --out data/demo
	$(BIN)/hggt summary --out data/demo

# The demo's ready enhancers (hggt/core/demo_enhancers/): the demo preset's tiny networks trained once,
# longer than the demo could afford, on the bundled photos; record.json keeps each one's training record.
DEMO_ENHANCER_SCHEDULE := enhancers.pretrained=null enhancers.train.iterations=1500 enhancers.train.milestones=[1200]
demo-enhancers: setup
	$(BIN)/hggt sample-photos data/sample-photos
	$(BIN)/hggt train-enhancers --out data/demo-enhancers --preset demo --hr-folder data/sample-photos \
		$(foreach o,$(DEMO_ENHANCER_SCHEDULE),--set '$(o)')
	$(BIN)/python -m hggt.cli.demo_enhancers data/demo-enhancers $(DEMO_ENHANCER_SCHEDULE)

# Browser tests drive Debian's Chromium through Playwright (Playwright's own download is not used).
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || \
		echo "warning: could not install Debian's chromium; the browser test will be skipped"

# The whole suite (what CI runs); test-quick leaves out the tests marked slow (crash chains, a real
# Prefect server and worker, object storage, torchrun) for a faster loop while developing.
test: setup chromium
	$(BIN)/python -m pytest

test-quick: setup chromium
	$(BIN)/python -m pytest -m "not slow"

# The documentation site (docs/, mkdocs.yml) into site/; --strict makes every warning an error (a page
# missing from the nav, a broken link or anchor, an unreadable docstring). The docs extra is installed on demand.
docs: setup
	@$(BIN)/python -c "import mkdocs, material, mkdocstrings_handlers.python" 2>/dev/null || \
		$(BIN)/pip install --quiet -c constraints.txt -e '.[docs]'
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# Optional baseline for the degradation benchmark: make bench HGGT_BASICSR=/path/to/BasicSR;
# one or a few benchmarks: make bench BENCH="latency maps"
bench: setup
	HGGT_BASICSR=$(HGGT_BASICSR) $(BIN)/python -m benchmarks $(BENCH)

# Ingest, patches, degradations and maps over 100 and 1,000 synthetic photos and sets (several minutes).
bench-scale: setup
	$(BIN)/python -m benchmarks.scale

# On a CUDA machine: Real-ISR and enhancer training steps (fp32, bf16 + channels-last, compiled),
# tiled enhancement, on-the-fly degradation and maps at paper size. GPU_CHECK_ARGS=--no-compile
# skips the minutes of torch.compile; --only sr|enhancers|synthesis picks sections.
gpu-check: setup
	$(BIN)/python -m benchmarks.gpu_check $(GPU_CHECK_ARGS)

# --- stages, on INPUT (photos) and OUT (the dataset) -------------------------------------------
ingest: setup
	$(BIN)/hggt ingest --input $(INPUT) --out $(OUT) --preset $(PRESET)

patches: setup
	$(BIN)/hggt patches --input $(INPUT) --out $(OUT) --preset $(PRESET)

degrade: setup
	$(BIN)/hggt degrade --input $(OUT) --out $(OUT) --preset $(PRESET)

train-enhancers: setup
	$(BIN)/hggt train-enhancers --out $(OUT) --preset $(PRESET)

enhance: setup
	$(BIN)/hggt enhance --out $(OUT) --preset $(PRESET)

select: setup
	$(BIN)/hggt select --out $(OUT) --preset $(PRESET)

synthesize-lr: setup
	$(BIN)/hggt synthesize-lr --input $(OUT) --out $(OUT) --preset $(PRESET)

annotate-export: setup
	$(BIN)/hggt annotate export --out $(OUT) --preset $(PRESET)

annotate-serve: setup
	$(BIN)/hggt annotate serve --out $(OUT)

annotate-ingest: setup
	$(BIN)/hggt annotate ingest --out $(OUT) --preset $(PRESET)

split: setup
	$(BIN)/hggt split --out $(OUT) --preset $(PRESET)

maps: setup
	$(BIN)/hggt maps --out $(OUT) --preset $(PRESET)

train-sr: setup
	$(BIN)/hggt train-sr --out $(OUT) --preset $(PRESET) --arch $(ARCH) --mode psnr
	for mode in ori pos posneg; do $(BIN)/hggt train-sr --out $(OUT) --preset $(PRESET) --arch $(ARCH) --mode $$mode || exit 1; done

evaluate: setup
	$(BIN)/hggt evaluate --out $(OUT) --preset $(PRESET) --run latest

report: setup
	$(BIN)/hggt report --out $(OUT)

# The labelled dataset in the published layout (Train/, Test/) at DEST, for the authors' scripts.
export-dataset: setup
	$(BIN)/hggt export-dataset --out $(OUT) --dest $(DEST)

# The learned annotator: fit on the train side's votes (VOTES=human, or proxy), score on the held-out sets.
VOTES ?= human
annotator-train: setup
	$(BIN)/hggt annotator train --out $(OUT) --votes $(VOTES)

annotator-evaluate: setup
	$(BIN)/hggt annotator evaluate --out $(OUT)

# The demo's shipped learned annotator (hggt/core/annotator/demo_annotator.json, `--set annotation.proxy_model=demo`):
# no published labels ship with hggt, so it learns the proxy rules' votes on the demo photos' train side.
demo-annotator: setup
	$(BIN)/hggt sample-photos data/sample-photos
	$(BIN)/hggt build --input data/sample-photos --out data/demo-annotator --preset demo --until split
	$(BIN)/hggt annotator train --out data/demo-annotator --votes proxy --ship hggt/core/annotator/demo_annotator.json
	$(BIN)/hggt annotator evaluate --out data/demo-annotator

build: setup
	$(BIN)/hggt build --input $(INPUT) --out $(OUT) --preset $(PRESET)

# --- Prefect server, worker and deployments ---------------------------------------------------
# The shared local server in this terminal until Ctrl-C (or `make server-stop`), no idle stop: never a
# second server on the same database, whichever of make, hggt or a deployment came first.
server: setup
	$(BIN)/hggt server start --port $(PORT) --foreground

server-stop: setup
	$(BIN)/hggt server stop

worker: setup
	PREFECT_API_URL=$(API) $(BIN)/prefect worker start --pool $(POOL) --type process

# Registers every deployment of prefect.yaml and limits tasks tagged gpu to GPUS at a time (none on a
# machine without a GPU: a limit of 1 there only queued CPU enhancement shards one behind another). Safe to
# repeat, and to run while `make worker` starts: the worker creates the pool too, so a create that
# loses that race is fine as long as the pool exists afterwards (--overwrite would reset a pool the
# operator edited). The tag limit's create is an upsert.
deploy: setup
	PREFECT_API_URL=$(API) $(BIN)/prefect work-pool inspect $(POOL) >/dev/null 2>&1 || \
		PREFECT_API_URL=$(API) $(BIN)/prefect work-pool create $(POOL) --type process >/dev/null 2>&1 || \
		PREFECT_API_URL=$(API) $(BIN)/prefect work-pool inspect $(POOL) >/dev/null
	@if [ "$(GPUS)" -gt 0 ]; then \
		PREFECT_API_URL=$(API) $(BIN)/prefect concurrency-limit create gpu $(GPUS) >/dev/null && \
		echo "tasks tagged gpu (enhancement, training): at most $(GPUS) at a time (GPUS=$(GPUS))"; \
	else \
		PREFECT_API_URL=$(API) $(BIN)/prefect concurrency-limit delete gpu >/dev/null 2>&1 || true; \
		echo "no GPU found: tasks tagged gpu (enhancement, training) run side by side on the CPU, unlimited; GPUS=N limits them to N"; \
	fi
	PREFECT_API_URL=$(API) $(BIN)/prefect --no-prompt deploy --all

# make run-<flow> runs a deployment and waits for it: make run-build-dataset, make run-maps,
# make run-train-sr PARAMS="--param arch=swinir --param mode=pos", make run-evaluate PARAMS="--param run_id=latest".
PRESET_PARAM = --param preset=$(PRESET)
run-build-dataset run-ingest: PARAMS += --param input=$(abspath $(INPUT))
run-degrade run-synthesize-lr: PARAMS += --param source=$(abspath $(OUT))
run-evaluate: PARAMS += --param run_id=latest
run-report: PRESET_PARAM =
run-annotator: PRESET_PARAM =
run-export-dataset: PRESET_PARAM =
run-export-dataset: PARAMS += --param dest=$(abspath $(DEST))
run-%: setup
	PREFECT_API_URL=$(API) $(BIN)/prefect deployment run '$*/local' --watch \
		--param out=$(abspath $(OUT)) $(PRESET_PARAM) $(PARAMS)

clean:
	rm -rf data/demo data/sample-photos
