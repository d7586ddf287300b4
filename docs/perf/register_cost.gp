set terminal svg size 860,520 dynamic enhanced font 'Helvetica,13' background '#ffffff'
set encoding utf8
set grid lw 0.5 lc rgb '#dddddd'
set key top left box opaque
set output 'register_cost.svg'
set title 'Register + release cost per 4 KiB page against buffer size (teemu bench)'
set logscale xy
set xrange [4096:1073741824]
set yrange [1:20000]
set xtics ('4K' 4096, '16K' 16384, '64K' 65536, '256K' 262144, '1M' 1048576, '4M' 4194304, '16M' 16777216, '64M' 67108864, '256M' 268435456, '1G' 1073741824)
set xlabel 'buffer size (bytes)'
set ylabel 'ns per 4 KiB page'
set key top right box opaque
set arrow from 16777216, graph 0 to 16777216, graph 1 nohead dt 3 lc rgb '#888888'
set label '≤ 4096 pages: MADV\_POPULATE\_WRITE;  above: one /proc/self/maps scan' at 15000000, graph 0.03 right font ',10' tc rgb '#666666'
plot '+' using 1:(234):(1445) with filledcurves fs transparent solid 0.12 lc rgb '#1f77b4' title 'OP-TEE mapping registered memory, 60–370 µs/MiB (published)', \
     '+' using 1:(700):(3600) with filledcurves fs transparent solid 0.12 lc rgb '#d62728' title 'Linux pin\_user\_pages, 0.7–3.6 µs/page (published)', \
     'register_cost.dat' using 1:3 with linespoints pt 7 ps 0.6 lw 2 lc rgb '#2ca02c' title 'teemu register', \
     'register_cost.dat' using 1:4 with linespoints pt 5 ps 0.6 lw 2 lc rgb '#9467bd' title 'teemu release', \
     'register_cost.dat' using 1:5 with linespoints pt 9 ps 0.7 lw 2 lc rgb '#000000' title 'teemu register + release'
