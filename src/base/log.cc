#include "base/log.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace teemu::base {

LogLevel log_level() {
  static const LogLevel level = [] {
    const char* v = std::getenv("TEEMU_LOG");
    if (v == nullptr) return LogLevel::kWarn;
    if (std::strcmp(v, "error") == 0) return LogLevel::kError;
    if (std::strcmp(v, "info") == 0) return LogLevel::kInfo;
    if (std::strcmp(v, "debug") == 0) return LogLevel::kDebug;
    return LogLevel::kWarn;
  }();
  return level;
}

void log_write(LogLevel level, const char* component, const std::string& msg) {
  static const char* const kNames[] = {"error", "warn", "info", "debug"};
  std::fprintf(stderr, "teemu[%s] %s: %s\n", kNames[static_cast<int>(level)], component,
               msg.c_str());
}

}  // namespace teemu::base
