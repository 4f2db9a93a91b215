# tmprov — plain GNU Makefile. `make check` installs what it needs, builds and tests.
# SANITIZE=1 builds everything with ASan+UBSan into build-san/ (programs in build-san/bin).

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
PKGS    := rdkafka libcurl jansson libxml-2.0 libpq libmicrohttpd libsodium

ifeq ($(SANITIZE),1)
BUILD   := build-san
BIN     := build-san/bin
SANFLAGS:= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD   := build
BIN     := bin
SANFLAGS:=
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -Icommon $(PKG_CFLAGS) $(SANFLAGS) \
           -DTMPROV_VERSION='"$(VERSION)"' -DTMPROV_MIGRATIONS_DIR='"$(abspath migrations)"'
LDFLAGS += $(SANFLAGS)
LDLIBS  += $(PKG_LIBS) -lpthread -lm
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0)
# The version is compiled into tm_client.o (User-Agent) and the CLI's main.o (--version); they
# depend on a stamp that is rewritten only when the version changes, so they never keep an old one.
VERSION_STAMP := $(BUILD)/version.stamp
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(VERSION_STAMP) 2>/dev/null)" = '$(VERSION)' ] || \
	echo '$(VERSION)' > $(VERSION_STAMP); })

COMMON_SRC := $(sort $(wildcard common/*.c))
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
LIB        := $(BUILD)/libtmprov.a

# program name -> source folder
PROGRAMS := tmsim:tools/tmsim tmprov-devkafka:tools/devkafka tmprov:tools/cli \
            tmprov-worker:workers/worker tmprov-callback:workers/callback
prog_dir  = $(word 2,$(subst :, ,$(filter $(1):%,$(PROGRAMS))))
PROG_BINS := $(foreach p,$(PROGRAMS),$(if $(wildcard $(word 2,$(subst :, ,$(p)))/*.c),$(BIN)/$(word 1,$(subst :, ,$(p)))))

SUPPORT_SRC := $(sort $(wildcard tests/support/*.c))
SUPPORT_OBJ := $(SUPPORT_SRC:%.c=$(BUILD)/%.o)
TEST_SRC    := $(sort $(wildcard tests/unit/test_*.c))
TEST_BINS   := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
ITEST_SRC   := $(sort $(wildcard tests/integration/test_*.c))
TEST_BINS   += $(ITEST_SRC:tests/integration/%.c=$(BUILD)/tests/%)

FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
FUZZ_SECONDS ?= 60

# Quiet build lines; `make V=1` shows the full commands.
ifeq ($(V),1)
say :=
else
say = @echo "  $(1)	$(2)";
endif

.PHONY: all check demo up down bench fuzz clean install deps deps-fuzz format format-check tests unit-check
.DELETE_ON_ERROR:
.SECONDARY:

all: $(PROG_BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/common/tm_client.o $(BUILD)/tools/cli/main.o: $(VERSION_STAMP)

$(LIB): $(COMMON_OBJ)
	@rm -f $@
	$(call say,AR,$@)ar rcs $@ $^

define PROGRAM_RULE
$(BIN)/$(1): $(patsubst %.c,$(BUILD)/%.o,$(wildcard $(2)/*.c)) $(LIB)
	@mkdir -p $(BIN)
	$$(call say,LD,$$@)$(CC) $(LDFLAGS) -o $$@ $$^ $(LDLIBS)
endef
$(foreach p,$(PROGRAMS),$(eval $(call PROGRAM_RULE,$(word 1,$(subst :, ,$(p))),$(word 2,$(subst :, ,$(p))))))

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(SUPPORT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/tests/%: $(BUILD)/tests/integration/%.o $(SUPPORT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

tests: $(TEST_BINS)

deps:
	@tools/install-deps.sh build test

deps-fuzz:
	@tools/install-deps.sh fuzz

# The README's test command. Starts its own PostgreSQL, tmprov-devkafka and tmsim.
check: deps
	$(MAKE) all tests
	$(MAKE) format-check
	BIN=$(BIN) BUILD=$(BUILD) tests/run-tests

# Unit and integration tests only, with the current build flags (CI runs this with SANITIZE=1).
unit-check: all tests
	BIN=$(BIN) BUILD=$(BUILD) tests/run-tests

demo: deps
	$(MAKE) all
	tools/demo.sh

up: deps
	$(MAKE) all
	tools/demo.sh up

down:
	tools/demo.sh down

bench: deps
	$(MAKE) all
	tools/bench.sh

build-fuzz/%: tests/fuzz/%.c $(COMMON_SRC)
	@mkdir -p build-fuzz
	clang -std=c11 -g -O1 -D_GNU_SOURCE -Icommon $(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined \
	  -o $@ $< $(COMMON_SRC) $(LDLIBS)

fuzz: deps-fuzz
	$(MAKE) $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do n=$$(basename $$f); \
	  mkdir -p build-fuzz/corpus-$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=70000 -dict=tests/fuzz/$$n.dict \
	      build-fuzz/corpus-$$n tests/fuzz/corpus/$$n || exit 1; done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@out=$$(for f in $$(git ls-files '*.c' '*.h'); do clang-format --dry-run --Werror $$f 2>&1 >/dev/null || echo $$f; done); \
	if [ -n "$$out" ]; then echo "format-check: not clang-formatted:"; echo "$$out"; exit 1; fi; \
	echo "format-check: ok"

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/tmprov/migrations $(DESTDIR)$(PREFIX)/share/tmprov/schemas
	install -m 0755 $(PROG_BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 migrations/*.sql $(DESTDIR)$(PREFIX)/share/tmprov/migrations/
	cp -R schemas/. $(DESTDIR)$(PREFIX)/share/tmprov/schemas/

clean:
	rm -rf build build-san build-fuzz bin

-include $(COMMON_OBJ:.o=.d) $(SUPPORT_OBJ:.o=.d) $(TEST_SRC:%.c=$(BUILD)/%.d) $(ITEST_SRC:%.c=$(BUILD)/%.d)
-include $(foreach p,$(PROGRAMS),$(patsubst %.c,$(BUILD)/%.d,$(wildcard $(word 2,$(subst :, ,$(p)))/*.c)))
