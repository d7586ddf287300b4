// Minimal leveled logging to stderr. The level comes from TEEMU_LOG (error, warn, info, debug;
// default warn) and is read once.
#pragma once

#include <fmt/core.h>

namespace teemu::base {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

LogLevel log_level();
void log_write(LogLevel level, const char* component, const std::string& msg);

template <class... Args>
void log(LogLevel level, const char* component, fmt::format_string<Args...> f, Args&&... args) {
  if (level > log_level()) return;
  log_write(level, component, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace teemu::base

#define TEEMU_LOG_ERROR(comp, ...) ::teemu::base::log(::teemu::base::LogLevel::kError, comp, __VA_ARGS__)
#define TEEMU_LOG_WARN(comp, ...) ::teemu::base::log(::teemu::base::LogLevel::kWarn, comp, __VA_ARGS__)
#define TEEMU_LOG_INFO(comp, ...) ::teemu::base::log(::teemu::base::LogLevel::kInfo, comp, __VA_ARGS__)
#define TEEMU_LOG_DEBUG(comp, ...) ::teemu::base::log(::teemu::base::LogLevel::kDebug, comp, __VA_ARGS__)
