// libteemu.so is assembled from the layer libraries; this file keeps the target non-empty.
