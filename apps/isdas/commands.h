#pragma once

// Subcommands that live in their own files; each returns the process exit status
// (docs/cli.md).

#include <string>
#include <vector>

namespace isdas::app {

int CmdKeys(const std::vector<std::string>& args);
int CmdCollector(const std::vector<std::string>& args);
// `isdas api --data-dir DIR [--listen HOST:PORT] [--threads N]`: the query API alone over a
// SQLite store (imported captures, a stopped collector's data, benchmarks).
int CmdApi(const std::vector<std::string>& args);
// `isdas sql [--data-dir DIR] QUERY`: one read-only query on a SQLite store, rows printed as
// the sqlite3 shell prints them ("a|b|c"); `events` is readable (the shell cannot read it).
int CmdSql(const std::vector<std::string>& args);
int CmdSensor(const std::vector<std::string>& args);
// `isdas spool list|show|requeue --dir DIR [SEQ|all]`: the spool's quarantine.
int CmdSpool(const std::vector<std::string>& args);

}  // namespace isdas::app
