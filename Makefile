# SPDX-License-Identifier: MIT
# Wrapper around CMake for the two README commands. `make demo` and `make check` install the
# Debian packages they need when run as root (after apt-get update), otherwise they print the
# apt-get line to run.
BUILD    ?= build
CMAKE_FLAGS ?=
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)

# Debian packages the build and the tests need; each paired with a file that proves it is there.
DEPS := cmake:/usr/bin/cmake gcc:/usr/bin/gcc make:/usr/bin/make \
	libcmocka-dev:/usr/include/cmocka.h pkg-config:/usr/bin/pkg-config
# `make check` also runs real programs under the LD_PRELOAD shim (CPython's own tests, sqlite3,
# xz, pigz) and the trace tests (python3); without them those tests would only be skipped.
CHECK_DEPS := $(DEPS) python3:/usr/bin/python3 sqlite3:/usr/bin/sqlite3 stress-ng:/usr/bin/stress-ng xz-utils:/usr/bin/xz \
	pigz:/usr/bin/pigz libpython3.11-testsuite:/usr/lib/python3.11/test/regrtest.py

.PHONY: all deps check-deps build demo check clean

all: build

deps check-deps:
	@missing=""; for d in $(if $(filter check-deps,$@),$(CHECK_DEPS),$(DEPS)); do pkg=$${d%%:*}; file=$${d#*:}; \
	  [ -e "$$file" ] || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing packages; run: sudo apt-get update && sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/kalloc-demo

check: check-deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD)
