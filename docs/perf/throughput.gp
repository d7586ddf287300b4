set terminal svg size 860,520 dynamic enhanced font 'Helvetica,13' background '#ffffff'
set encoding utf8
set grid lw 0.5 lc rgb '#dddddd'
set key top left box opaque
set output 'throughput.svg'
set title 'Aggregate empty-invoke throughput (teemu bench, 2 CPUs)'
set xlabel 'client threads (each with its own context and session) / guests'
set ylabel 'invokes per second'
set format y '%.0f'
set yrange [0:*]
set xtics 1
set xrange [0.8:4.2]
plot 'throughput_0.dat' using 1:2 with linespoints pt 7 lw 2 lc rgb '#2ca02c' title 'native client threads', \
     (x >= 1 ? x * 2048839.491068 : 1/0) with lines dt 2 lc rgb '#aaaaaa' title 'linear scaling from 1 thread', \
     'throughput_1.dat' using 1:2 with linespoints pt 7 lw 2 lc rgb '#ff7f0e' title 'guests (one client thread each)'
