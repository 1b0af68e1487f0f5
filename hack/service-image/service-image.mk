# The isobox service image (API + operator) and the deploy artifacts generated from the chart.
# Included from the top Makefile (`-include hack/service-image/service-image.mk`).
ISOBOX_SERVICE_IMAGE_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))

.PHONY: service-image

# Builds localhost/isobox/isobox:0.1.0 offline (debootstrap base, host-built wheels,
# docker build --network=none), smoke-tests it and saves it to
# ${ISOBOX_CACHE:-/var/cache/isobox}/images/isobox.tar.
service-image:
	$(ISOBOX_SERVICE_IMAGE_DIR)/build.sh

include $(ISOBOX_SERVICE_IMAGE_DIR)/../chart/chart.mk
