// gpumix: how should these ML workloads share this GPU?
#include <spdlog/spdlog.h>

#include <functional>
#include <iostream>

#include "cli/commands.hpp"
#include "gpumix/spec/parse.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/terminal.hpp"
#include "gpumix/version.hpp"

int main(int argc, char** argv) {
  // Named, so that every help's usage line reads "gpumix SUBCOMMAND ..." whatever argv[0] is.
  CLI::App app{"gpumix runs a mix of ML workloads on one GPU under each sharing mode and measures them.", "gpumix"};
  app.set_version_flag("--version", std::string(gpumix::kVersion) + " (" + gpumix::kGitSha + ")");
  app.require_subcommand(1);
  bool verbose = false, quiet = false;
  auto* verbose_flag = app.add_flag("-v,--verbose", verbose, "Log more detail");
  app.add_flag("-q,--quiet", quiet, "Only warnings and errors on standard error (no progress)")->excludes(verbose_flag);

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
  gpumix::cli::add_tune(app, action);
  gpumix::cli::add_completion(app, action);
  gpumix::cli::add_man(app, action);
  // -q and -v go before or after the subcommand too: what a subcommand does
  // not know falls through to them. Not into one that passes every argument
  // on to its own parser (loadgen), which takes them out itself.
  std::function<void(CLI::App&)> fall_through = [&](CLI::App& parent) {
    for (auto* sub : parent.get_subcommands([](CLI::App* a) { return !a->get_prefix_command(); })) {
      sub->fallthrough();
      fall_through(*sub);
    }
  };
  fall_through(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  // Progress and logs go to stderr: stdout carries tables and exports.
  gpumix::terminal::install_logger(quiet ? spdlog::level::warn : verbose ? spdlog::level::debug : spdlog::level::info);

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
