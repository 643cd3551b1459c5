// Every GPUMIX_* environment variable, named once. docs/metrics-protocol.md
// documents what a workload receives; docs/cli.md what gpumix itself reads.
#pragma once

namespace gpumix::env_vars {

// Given to every workload process (run/cell_run, and by k8s/render to pods).
inline constexpr const char* kWorkload = "GPUMIX_WORKLOAD";        // its name in the mix
inline constexpr const char* kCell = "GPUMIX_CELL";                // the cell's label
inline constexpr const char* kMode = "GPUMIX_MODE";                // the cell's sharing mode
inline constexpr const char* kSeed = "GPUMIX_SEED";                // its seed, from the mix's
inline constexpr const char* kRunDir = "GPUMIX_RUN_DIR";           // the run's folder
inline constexpr const char* kMetricsFd = "GPUMIX_METRICS_FD";     // where it writes its events
inline constexpr const char* kMetricsFile = "GPUMIX_METRICS_FILE"; // or a file (containers in k8s)
inline constexpr const char* kAfterUrl = "GPUMIX_AFTER_URL";       // the URL of the server it starts after
inline constexpr const char* kAfterModel = "GPUMIX_AFTER_MODEL";   // and that server's model
// Carried by everything a run starts, so the orphan guard can find it
// (run/orphan_guard); mode daemons (MPS) carry it too.
inline constexpr const char* kRunToken = "GPUMIX_RUN_TOKEN";
// Set inside a container gpumix started (run/container_launcher).
inline constexpr const char* kContainer = "GPUMIX_CONTAINER";
// Given to the pods of a fleet (k8s/render): which shard of the plan a pod runs.
inline constexpr const char* kFleetId = "GPUMIX_FLEET_ID";

// Read by gpumix.
inline constexpr const char* kResults = "GPUMIX_RESULTS";                      // --results
inline constexpr const char* kTelemetryInterval = "GPUMIX_TELEMETRY_INTERVAL"; // --interval of monitor
inline constexpr const char* kWorkloadDir = "GPUMIX_WORKLOAD_DIR";             // where the built-ins are
inline constexpr const char* kNvmlLibrary = "GPUMIX_NVML_LIBRARY";             // NVML to load (tests: the fake)
// Events per second of one workload that `gpumix run` stores (run/collector).
inline constexpr const char* kMaxEventsPerSecond = "GPUMIX_MAX_EVENTS_PER_SECOND";
// How often `gpumix run` logs a progress line when standard error is not a terminal (run/progress).
inline constexpr const char* kProgressInterval = "GPUMIX_PROGRESS_INTERVAL";

}  // namespace gpumix::env_vars
