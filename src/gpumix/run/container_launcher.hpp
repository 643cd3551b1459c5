// The container launcher: runs a workload with podman or docker
// (docs/containers.md). The engine's client (`podman run`, `docker run`)
// is gpumix's child, attached to the container:
//  - metrics: the container's stdout *is* the metrics channel. The engine
//    client's stdout is the write end of the runner's pipe, and a small
//    /bin/sh wrapper in the container moves the workload's stdout to fd 3
//    (GPUMIX_METRICS_FD=3) and its own stdout to stderr. This works the same
//    with both engines (docker cannot pass descriptors; a FIFO or socket in a
//    bind mount trips over user namespaces and SELinux labels), and the
//    channel ends when the container does, as a pipe would.
//  - stop: SIGTERM goes to the client, which forwards it (--sig-proxy, on by
//    default when attached) to the container's init (--init), which forwards
//    it to the workload; SIGKILL is `ENGINE kill`.
//  - exit: `ENGINE inspect` gives the exit code and State.OOMKilled; a client
//    that ends without a container (no such image, bad option) is reported
//    with the engine's exit status (125) and its error line.
//  - cleanup: the container is removed (`rm -f`) once it has exited, or when
//    its handle is destroyed. It is not started with --rm, so that its state
//    can still be inspected. Containers carry the run's token as a label; the
//    orphan guard and the next `gpumix run` remove those of a gpumix that died.
#pragma once

#include <string>
#include <vector>

#include "gpumix/run/launcher.hpp"
#include "gpumix/run/process_launcher.hpp"

namespace gpumix::run {

// Label keys every gpumix container carries.
inline constexpr const char* kRunTokenLabel = "gpumix.run-token";
inline constexpr const char* kHostLabel = "gpumix.host";

class ContainerLauncher final : public Launcher {
 public:
  // Requires request.container; request.env must hold GPUMIX_RUN_TOKEN.
  std::unique_ptr<RunningWorkload> start(const LaunchRequest& request) override;
};

// The launcher of a mix: each workload's own (process or container).
class MixLauncher final : public Launcher {
 public:
  std::unique_ptr<RunningWorkload> start(const LaunchRequest& request) override {
    return request.container ? containers_.start(request) : processes_.start(request);
  }

 private:
  ProcessLauncher processes_;
  ContainerLauncher containers_;
};

// The engines (podman, docker) the mix's container workloads use.
std::vector<std::string> container_engines(const spec::Mix& mix);

// The `ENGINE run ...` argv for a request (exposed for the tests).
std::vector<std::string> container_run_argv(const LaunchRequest& request);

// Removes every container of `engine` labelled with `token`; returns how many.
int remove_containers_by_token(const std::string& engine, const std::string& token);

// Removes the containers of `engine` left by a gpumix on this host that is
// gone (its pid, the start of the token, no longer runs); returns how many.
// An engine that is not installed has none.
int remove_stale_containers(const std::string& engine);

}  // namespace gpumix::run
