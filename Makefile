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

# Debian's packages the test suite needs beyond Python and Node: the Go toolchain
# with protoc's Go plugins and the protobuf and gRPC packages (the Go client's
# test builds in GOPATH mode: no module proxy), and protobuf's Java runtime
# (the Java messages' test), and Chromium with its chromedriver for the console's
# browser tests (Selenium drives them; it never downloads a browser or driver).
# golang-github-golang-protobuf-1-5-dev, not the 1.3 that gRPC's package would
# pull in: 1.3 cannot marshal protoc-gen-go 1.28's code.
DEBIAN_PACKAGES := golang-go golang-google-grpc-dev golang-google-protobuf-dev \
	golang-github-golang-protobuf-1-5-dev protoc-gen-go protoc-gen-go-grpc protobuf-compiler \
	libprotobuf-java chromium chromium-driver
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup run test check lint typecheck gen check-gen bench chaos clean debian-packages

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

# Test files run on TEST_WORKERS processes (pytest-xdist), each file's tests on one of them.
TEST_WORKERS ?= 2

test: setup $(TS)/node_modules/.installed debian-packages
	$(BIN)/pytest -q --numprocesses $(TEST_WORKERS) --dist loadfile

debian-packages:
	@dpkg -s $(DEBIAN_PACKAGES) >/dev/null 2>&1 || { \
		echo "installing Debian packages: $(DEBIAN_PACKAGES)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			$(SUDO) apt-get install -y -qq $(DEBIAN_PACKAGES) >/dev/null; }

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
