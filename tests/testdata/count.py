# Counts series, samples, stale markers and metadata in each captured remote-write body
# independently of closeloop's decoder: cramjam for snappy, protoc --decode_raw for protobuf.
import cramjam, subprocess, glob, os, re, struct
rows = []
files = sorted(glob.glob('prometheus-2.42/*.bin') + glob.glob('prometheus-2.42/stream/*.bin'))
for f in files:
    raw = bytes(cramjam.snappy.decompress_raw(open(f,'rb').read()))
    out = subprocess.run(['protoc','--decode_raw'], input=raw, capture_output=True, check=True).stdout.decode()
    series = metadata = samples = stale = 0
    depth = 0; path = []
    for line in out.splitlines():
        s = line.strip()
        if s.endswith('{'):
            tag = s.split()[0]; path.append(tag)
            if path == ['1']: series += 1
            if path == ['3']: metadata += 1
            if path == ['1','2']: samples += 1
        elif s == '}':
            path.pop()
        elif path == ['1','2'] and s.startswith('1:'):
            v = s.split(':',1)[1].strip()
            if v == '0x7ff0000000000002': stale += 1
    rows.append(f"{f}\t{series}\t{samples}\t{stale}\t{metadata}")
open('prometheus-2.42/expected_counts.tsv','w').write("file\tseries\tsamples\tstale_markers\tmetadata\n" + "\n".join(rows) + "\n")
