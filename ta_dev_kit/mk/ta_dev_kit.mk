# teemu TA dev kit: builds an OP-TEE style TA directory into <BINARY>.ta with the host compiler.
#
# A TA Makefile sets BINARY=<uuid> and includes this file; its sub.mk lists the sources:
#   srcs-y += foo.c            global-incdirs-y += include      cflags-y += -DX
#   cflags-foo.c-y += -DY      subdirs-y += lib                 (libnames/libdirs are ignored)
# Knobs: CROSS_COMPILE (unset: host gcc), O (output directory, default .),
#        CFG_TEE_TA_LOG_LEVEL (default 2), CFG_TA_OPTEE_CORE_API_COMPAT_1_1=y (GP 1.1 API).
# Targets: all (default), clean.

ifndef BINARY
$(error teemu ta_dev_kit.mk: BINARY (the TA UUID) is not set)
endif

TA_DEV_KIT_DIR ?= $(patsubst %/mk/,%,$(dir $(lastword $(MAKEFILE_LIST))))
O ?= .
CC := $(CROSS_COMPILE)gcc
CFG_TEE_TA_LOG_LEVEL ?= 2

# --- collect sub.mk files (the TA directory and its subdirs-y, recursively) ---------------
ta-srcs :=
ta-incdirs :=
ta-cflags :=
define process-submk
sub-dir := $(patsubst ./%,%,$(1))
srcs-y :=
global-incdirs-y :=
incdirs-y :=
cflags-y :=
subdirs-y :=
include $(1)/sub.mk
ta-srcs += $$(addprefix $$(sub-dir)/,$$(srcs-y))
ta-incdirs += $$(addprefix $$(sub-dir)/,$$(global-incdirs-y) $$(incdirs-y))
ta-cflags += $$(cflags-y)
$$(foreach s,$$(srcs-y),$$(eval ta-cflags-$$(sub-dir)/$$(s) := $$(cflags-$$(s)-y)))
$$(foreach d,$$(subdirs-y),$$(eval $$(call process-submk,$$(sub-dir)/$$(d))))
endef
$(eval $(call process-submk,.))

ta-srcs := $(patsubst ./%,%,$(ta-srcs))
ta-objs := $(addprefix $(O)/,$(ta-srcs:.c=.o)) $(O)/user_ta_header.o

ta-compat := $(if $(filter y,$(CFG_TA_OPTEE_CORE_API_COMPAT_1_1)),-D__OPTEE_CORE_API_COMPAT_1_1=1)
ta-cppflags := -I. $(addprefix -I,$(ta-incdirs)) -I$(TA_DEV_KIT_DIR)/include \
               -DTRACE_LEVEL=$(CFG_TEE_TA_LOG_LEVEL) -DCFG_TEE_TA_LOG_LEVEL=$(CFG_TEE_TA_LOG_LEVEL) \
               $(ta-compat)
ta-cflags-common := -std=gnu11 -O2 -fPIC -fvisibility=default -Wall $(ta-cflags) $(CFLAGS_TA)

.PHONY: all clean
all: $(O)/$(BINARY).ta

$(O)/$(BINARY).ta: $(ta-objs)
	@echo '  LD      $@'
	@$(CC) -shared -o $@ $^ $(LDFLAGS_TA)

$(O)/user_ta_header.o: $(TA_DEV_KIT_DIR)/src/user_ta_header.c
	@mkdir -p $(dir $@)
	@echo '  CC      $@'
	@$(CC) $(ta-cppflags) $(ta-cflags-common) -c $< -o $@

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo '  CC      $@'
	@$(CC) $(ta-cppflags) $(ta-cflags-common) $(ta-cflags-$<) -MMD -MP -c $< -o $@

-include $(ta-objs:.o=.d)

clean:
	@rm -f $(ta-objs) $(ta-objs:.o=.d) $(O)/$(BINARY).ta
