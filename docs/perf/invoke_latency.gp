set terminal svg size 860,520 dynamic enhanced font 'Helvetica,13' background '#ffffff'
set encoding utf8
set grid lw 0.5 lc rgb '#dddddd'
set key top left box opaque
set output 'invoke_latency.svg'
set title 'Latency distribution (CDF) of single calls (teemu bench)'
set logscale x
set format x '10^{%L}'
set xlabel 'round trip (ns, log scale; includes one clock read)'
set ylabel 'fraction of calls ≤ x'
set yrange [0:1.02]
set key bottom right box opaque
set arrow from 10000, graph 0 to 10000, graph 1 nohead dt 2 lc rgb '#d62728'
set label 'OP-TEE invoke on boards: tens of µs (published)' at 11000, graph 0.5 left font ',10' tc rgb '#d62728'
plot 'invoke_latency.dat' using 1:2 with lines lw 2 lc rgb '#2ca02c' title 'empty invoke through the GP API (teemu)', \
     'pipe_latency.dat' using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'pipe ping-pong between two threads'
