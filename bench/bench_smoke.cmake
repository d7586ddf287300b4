# CTest smoke run of `teemu bench --quick`: the report runs end to end and its JSON has every key.
# No timing is asserted (CI machines are shared and noisy).
# Usage: cmake -DTEEMU=<teemu> -DOUT=<dir> [-DPLOT=ON] -P bench_smoke.cmake
cmake_minimum_required(VERSION 3.25)

file(REMOVE_RECURSE "${OUT}")
file(MAKE_DIRECTORY "${OUT}")
set(args bench --quick --json "${OUT}/bench.json")
if(PLOT)
  list(APPEND args --plot "${OUT}/plots")
endif()
execute_process(COMMAND "${TEEMU}" ${args} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "teemu bench --quick failed: ${rc}")
endif()

file(READ "${OUT}/bench.json" json)
# The metrics of issue 5 (numbers; guest_invoke_vs_native may be null when no guest figure can be had).
set(metrics invoke_vs_pipe open_close_vs_invoke register_vs_memcpy register_ns_per_page
            zero_copy_vs_native temp_dynamic_overhead static_bounce_vs_dynamic scaling_2_threads
            metadata_bytes_per_page)
# Raw medians (ns) and the breakdowns docs/performance.md refers to.
set(raw invoke_ns pipe_roundtrip_ns open_close_ns register_64mib_ns memcpy_64mib_ns
        register_large_ns ta_sum_registered_64mib_ns native_sum_64mib_ns temp_sum_1mib_ns
        registered_sum_1mib_ns dynamic_temp_sum_1mib_ns static_temp_sum_1mib_ns
        invoke_throughput_1_threads_per_s invoke_throughput_2_threads_per_s
        metadata_heap_steady_bytes_per_page metadata_frame_table_bytes_per_page)
foreach(key IN LISTS metrics raw)
  string(JSON type ERROR_VARIABLE err TYPE "${json}" ${key})
  if(err)
    message(FATAL_ERROR "bench.json has no key ${key}")
  endif()
  if(NOT type STREQUAL "NUMBER")
    message(FATAL_ERROR "bench.json: ${key} is ${type}, not a number")
  endif()
endforeach()
string(JSON type ERROR_VARIABLE err TYPE "${json}" guest_invoke_vs_native)
if(err)
  message(FATAL_ERROR "bench.json has no key guest_invoke_vs_native")
endif()
if(NOT type MATCHES "^(NULL|NUMBER)$")
  message(FATAL_ERROR "bench.json: guest_invoke_vs_native is ${type}")
endif()
if(PLOT)
  foreach(chart register_cost invoke_latency throughput)
    if(NOT EXISTS "${OUT}/plots/${chart}.svg")
      message(FATAL_ERROR "teemu bench --plot made no ${chart}.svg")
    endif()
  endforeach()
endif()
message(STATUS "teemu bench --quick: JSON complete")
