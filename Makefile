# clerk-relay: every command a developer or CI needs.
#   make run    set up everything, then run the relay (embedded SQLite)
#   make test   set up everything, then run the whole test suite
#   make check  lint, type-check, generated-code freshness and tests (what CI runs)
#   make chaos  the failure-injection suite at full scale (tests run it at quick scale)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TS     := clients/typescript
PROTO_INCLUDE = $$($(BIN)/python -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')
PY_GEN := clients/python/clerkrelay/v1
STATE_HELPERS := clients/python/clerkrelay/state.py

.PHONY: setup run test check lint typecheck gen check-gen bench chaos clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

$(TS)/node_modules/.installed: $(TS)/package.json $(TS)/package-lock.json
	cd $(TS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: setup
	$(BIN)/clerk-relay serve --dev

test: setup $(TS)/node_modules/.installed
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/buf lint
	$(BIN)/buf format --diff --exit-code
	$(BIN)/buf breaking --exclude-imports --against '.git#branch=main'

typecheck: setup
	$(BIN)/mypy

gen: setup $(TS)/node_modules/.installed
	rm -f $(PY_GEN)/*_pb2*.py $(PY_GEN)/*_pb2*.pyi
	$(BIN)/python -m grpc_tools.protoc -Iprotos -I$(PROTO_INCLUDE) \
		--plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy \
		--python_out=clients/python --mypy_out=clients/python \
		protos/clerkrelay/v1/*.proto
	$(BIN)/python -m grpc_tools.protoc -Iprotos -I$(PROTO_INCLUDE) \
		--plugin=protoc-gen-mypy_grpc=$(BIN)/protoc-gen-mypy_grpc \
		--grpc_python_out=clients/python --mypy_grpc_out=clients/python \
		protos/clerkrelay/v1/*_service.proto
	$(BIN)/python clients/python/codegen/state_queries.py > $(STATE_HELPERS).tmp
	$(BIN)/ruff format --quiet - --stdin-filename $(STATE_HELPERS) \
		< $(STATE_HELPERS).tmp > $(STATE_HELPERS)
	rm -f $(STATE_HELPERS).tmp
	$(BIN)/buf generate

check-gen: gen
	@git add -N $(PY_GEN) $(STATE_HELPERS) $(TS)/src/gen
	@git diff --exit-code --stat -- $(PY_GEN) $(STATE_HELPERS) $(TS)/src/gen \
		|| (echo "generated code is stale: run 'make gen' and commit the result" && exit 1)

check: lint typecheck check-gen test

# CHAOS_SCALE=full here (`make test` runs the same suite at the quick scale);
# CHAOS_SEED=n replays a run; the summary is printed and saved to $CHAOS_SUMMARY
# (default: clerk-relay-chaos-summary.md in the temporary directory).
chaos: setup
	CHAOS_SCALE=$${CHAOS_SCALE:-full} $(BIN)/pytest -q -m chaos

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(TS)/node_modules .pytest_cache .mypy_cache .ruff_cache
