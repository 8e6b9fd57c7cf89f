# SPDX-License-Identifier: BSD-3-Clause
# kifmm-c convenience wrapper: installs Debian dependencies when missing, configures,
# builds and runs. `make demo` and `make test` are the two quick-start commands.
BUILD     ?= build
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
DEBS = cmake make gcc gfortran pkg-config libopenblas-dev liblapack-dev liblapacke-dev \
       libhdf5-openmpi-dev hdf5-tools libopenmpi-dev openmpi-bin python3-h5py python3-numpy
# only `make bench` needs it (the front's PNG); tests never do
BENCH_DEBS = python3-matplotlib
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: all deps configure build test test-slow demo bench install check-sanitize check-sanitize-mpi check-tsan \
        check-valgrind clean

all: build

deps:
	@missing=""; for p in $(DEBS) $(EXTRA_DEBS); do \
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

# Label "slow": tests whose operators take many minutes to precompute (Stokes at p11, p12);
# `make test-slow` runs them.
# The suite's operator caches stay under 1.5 GiB each (least recently used files go first), so
# that it runs on a machine with a few GB of disk; the p16/p18 files alone are 1.4 GB.
TEST_CACHE_MAX ?= 1536M

test: build
	cd $(BUILD) && KIFMM_CACHE_MAX_BYTES=$(TEST_CACHE_MAX) ctest --output-on-failure -j 1 --timeout 900 -LE slow

test-slow: build
	cd $(BUILD) && ctest --output-on-failure -j 1 -L slow

demo: build
	$(BUILD)/tools/kifmm generate --dist cube --n 1e6 --seed 42 -o $(BUILD)/demo-particles.h5
	$(BUILD)/tools/kifmm run $(BUILD)/demo-particles.h5 -o $(BUILD)/demo-results.h5 --order 6 --check 1000

bench:
	$(MAKE) EXTRA_DEBS="$(BENCH_DEBS)" build
	./examples/run_bench.sh $(BUILD)/examples/kifmm-bench

install: build
	cmake --install $(BUILD)

check-sanitize: deps
	$(MAKE) BUILD=build-sanitize CMAKE_ARGS="-DKIFMM_SANITIZE=ON -DKIFMM_NATIVE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo" build
	cd build-sanitize && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -L unit && \
	  ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -R "test_accuracy_p[46]$$|^demo$$|test_tolerance"

# The C MPI suites (label mpi: partition and distributed plans) at 2 ranks under ASan/UBSan,
# in the check-sanitize build. Open MPI keeps allocations from MPI_Init past MPI_Finalize:
# tests/mpi/lsan.supp silences leaks whose stack passes through Open MPI's libraries (libmpi,
# open-pal, open-rte, hwloc, PMIx, libevent) only, never kifmm code. For the stacks to reach
# them, components stay loaded at exit (mca_base_component_disable_dlclose) and LSan unwinds
# fully. Not run: the Fortran MPI suite (its executable does not load the ASan runtime first)
# and the 4-rank memory test (it measures RSS, which ASan's shadow memory inflates).
SANITIZE_MPI_ENV = ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 \
  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/mpi/lsan.supp \
  OMPI_MCA_mca_base_component_disable_dlclose=1
check-sanitize-mpi: deps
	$(MAKE) BUILD=build-sanitize CMAKE_ARGS="-DKIFMM_SANITIZE=ON -DKIFMM_NATIVE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo" build
	cd build-sanitize && $(SANITIZE_MPI_ENV) ctest --output-on-failure -L mpi -R "^mpi_.*_np2$$"

# ThreadSanitizer on test_concurrency (plans from several pthreads at once), in its own build
# dir. libgomp is not built with TSan, so OpenMP barriers are invisible to it and any team of
# 2+ threads gives false reports: the test runs with OpenMP teams of 1 (KIFMM_TEST_OMP_THREADS),
# which still checks everything shared between user threads (HDF5 lock, BLAS thread count,
# cache files). tests/tsan.supp silences OpenBLAS internals only, never kifmm code.
TSAN = -fsanitize=thread
check-tsan: deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKIFMM_BUILD_EXAMPLES=OFF \
	  -DCMAKE_C_FLAGS="$(TSAN) -fno-omit-frame-pointer" -DCMAKE_EXE_LINKER_FLAGS="$(TSAN)" \
	  -DCMAKE_SHARED_LINKER_FLAGS="$(TSAN)"
	cmake --build build-tsan -j $(JOBS) --target test_concurrency test_wisdom
	cd build-tsan && KIFMM_TEST_OMP_THREADS=1 \
	  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  ./tests/test_concurrency && OMP_NUM_THREADS=1 \
	  TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tests/tsan.supp" ./tests/test_wisdom

check-valgrind: deps
	$(MAKE) BUILD=build-valgrind CMAKE_ARGS="-DCMAKE_BUILD_TYPE=RelWithDebInfo" build
	cd build-valgrind && for t in test_morton test_tree test_lists test_operators test_threads test_badinput test_gemm test_p2p test_direct; do \
	  KIFMM_CACHE_DIR=$$PWD/test-cache valgrind -q --error-exitcode=9 --leak-check=full \
	    --errors-for-leak-kinds=definite ./tests/$$t || exit 1; done && \
	  ./tools/kifmm generate --dist cube --n 2000 --seed 1 -o vg-particles.h5 && \
	  KIFMM_CACHE_DIR=$$PWD/test-cache valgrind -q --error-exitcode=9 \
	    ./tools/kifmm run vg-particles.h5 -o vg-results.h5 --order 4 --check 100

clean:
	rm -rf build build-sanitize build-tsan build-valgrind
