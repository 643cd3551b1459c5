// gpumix: how should these ML workloads share this GPU?
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/commands.hpp"
#include "gpumix/spec/parse.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/version.hpp"

int main(int argc, char** argv) {
  // Named, so that every help's usage line reads "gpumix SUBCOMMAND ..." whatever argv[0] is.
  CLI::App app{"gpumix runs a mix of ML workloads on one GPU under each sharing mode and measures them.", "gpumix"};
  app.set_version_flag("--version", std::string(gpumix::kVersion) + " (" + gpumix::kGitSha + ")");
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log more detail");

  gpumix::cli::Action action;
  gpumix::cli::add_run(app, action);
  gpumix::cli::add_validate(app, action);
  gpumix::cli::add_ls(app, action);
  gpumix::cli::add_show(app, action);
  gpumix::cli::add_export(app, action);
  gpumix::cli::add_workloads(app, action);
  gpumix::cli::add_gpu(app, action);
  gpumix::cli::add_monitor(app, action);
  gpumix::cli::add_report(app, action);
  gpumix::cli::add_compare(app, action);
  gpumix::cli::add_probe(app, action);
  gpumix::cli::add_merge(app, action);
  gpumix::cli::add_k8s(app, action);
  gpumix::cli::add_loadgen(app, action);
  gpumix::cli::add_completion(app, action);
  gpumix::cli::add_man(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  // Progress goes to stderr: stdout carries tables and exports.
  spdlog::set_default_logger(spdlog::stderr_color_mt("gpumix"));
  spdlog::set_pattern("%^[%H:%M:%S %l]%$ %v");
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::info);

  try {
    return action();
  } catch (const gpumix::InputError& e) {
    std::cerr << "gpumix: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "gpumix: failed: " << e.what() << "\n";
    return 1;
  }
}
