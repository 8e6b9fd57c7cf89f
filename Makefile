# kifmm-c convenience wrapper: installs Debian dependencies when missing, configures,
# builds and runs. `make demo` and `make test` are the two quick-start commands.
BUILD     ?= build
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
DEBS = cmake make gcc gfortran pkg-config libopenblas-dev liblapack-dev liblapacke-dev \
       libhdf5-openmpi-dev hdf5-tools libopenmpi-dev openmpi-bin python3-h5py python3-numpy
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: all deps configure build test demo bench install check-sanitize check-valgrind clean

all: build

deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

configure: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j 1 --timeout 900

demo: build
	$(BUILD)/examples/kifmm generate --dist cube --n 1e6 --seed 42 -o $(BUILD)/demo-particles.h5
	$(BUILD)/examples/kifmm run $(BUILD)/demo-particles.h5 -o $(BUILD)/demo-results.h5 --order 6 --check 1000

bench: build
	./examples/run_bench.sh $(BUILD)/examples/kifmm-bench

install: build
	cmake --install $(BUILD)

check-sanitize: deps
	$(MAKE) BUILD=build-sanitize CMAKE_ARGS="-DKIFMM_SANITIZE=ON -DKIFMM_NATIVE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo" build
	cd build-sanitize && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -L unit && \
	  ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -R "test_accuracy_p[46]|^demo$$"

check-valgrind: deps
	$(MAKE) BUILD=build-valgrind CMAKE_ARGS="-DCMAKE_BUILD_TYPE=RelWithDebInfo" build
	cd build-valgrind && for t in test_morton test_tree test_lists test_operators test_threads test_badinput test_gemm; do \
	  KIFMM_CACHE_DIR=$$PWD/test-cache valgrind -q --error-exitcode=9 --leak-check=full \
	    --errors-for-leak-kinds=definite ./tests/$$t || exit 1; done && \
	  ./examples/kifmm generate --dist cube --n 2000 --seed 1 -o vg-particles.h5 && \
	  KIFMM_CACHE_DIR=$$PWD/test-cache valgrind -q --error-exitcode=9 \
	    ./examples/kifmm run vg-particles.h5 -o vg-results.h5 --order 4 --check 100

clean:
	rm -rf build build-sanitize build-valgrind
