# Runtime images (see docs/design.md "Runtime images"). Include from the top
# Makefile:  include hack/images/images.mk
ISOBOX_IMAGES_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))

.PHONY: images images-smoke launcher-test

# Builds localhost/isobox/runtime-{python,node,bash,ruby,gcc,go,java,rust}:0.1.0 offline and saves
# them to ${ISOBOX_CACHE:-/var/cache/isobox}/images/runtime-<lang>.tar.
images:
	$(ISOBOX_IMAGES_DIR)/build.sh

# Runs hello/stderr/stdin/timeout through each built image.
images-smoke:
	$(ISOBOX_IMAGES_DIR)/smoke.sh

launcher-test:
	cd $(ISOBOX_IMAGES_DIR)/../../launcher && go vet ./... && go test ./...
