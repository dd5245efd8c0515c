# warmpath: the two commands a new user needs, and a few more.
#   make demo   install what is missing, build, run the main job
#   make test   install what is missing, build, run the whole test suite
BUILD    ?= build
TYPE     ?= RelWithDebInfo
WP_ASAN  ?= OFF
WP_WERROR ?= OFF
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all deps configure build demo test asan clean

all: build

deps:
	@./scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	@$(MAKE) --no-print-directory configure

configure: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(TYPE) -DWP_ASAN=$(WP_ASAN) -DWP_WERROR=$(WP_WERROR) $(CMAKE_ARGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	./scripts/demo.sh $(BUILD)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

asan:
	$(MAKE) --no-print-directory test BUILD=build-asan TYPE=Debug WP_ASAN=ON

clean:
	rm -rf $(BUILD) build-asan
