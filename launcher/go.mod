module isobox.dev/launcher

// 1.19 so that Debian 12's own golang-go can build it (hack/images/build.sh).
go 1.19
