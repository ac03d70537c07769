# The job directory file ($PGDATA/pg_background.jobs) when it is damaged or
# too large, and a directory far larger than the jobs it holds.
#
# Node: shared_preload_libraries = 'pg_background'.  Three jobs run and
# finish; a fast stop writes the file, which the test keeps as the valid
# reference (header: magic, entry size, next sequence number, count; then
# count entries of the entry size).  Then, for each damaged variant, the
# test stops the server, puts the variant in place and starts the server:
# it must start, log a WARNING "pg_background job directory file
# "pg_background.jobs" is damaged" with a DETAIL saying what is wrong and
# that the file was renamed, leave the file, byte for byte, as
# pg_background.jobs.damaged, and start with an empty directory
# (pg_background_jobs has no row, pg_background_admission().directory_used
# is 0); a new job then runs.
#
# (a) The valid header with a count of 100,000,000 (not what the file
#     holds): the server used to allocate count x entry size at start and
#     fail (FATAL, invalid memory alloc request size).
# (b) 10,000 bytes of (seeded) random garbage.
# (c) The valid file cut in the middle of its third entry: the whole file is
#     set aside (no entry of it is loaded, as docs/directory.md says).
# (d) The valid file with bytes appended after its last entry.
# (e) The valid file with the state of its second entry set to 99.
# The valid reference file, put back, still loads: its three jobs are
# listed with their states.
# (f) With pg_background.max_jobs = 400000 (about 1.3 GB of entries) and a
#     few jobs, SELECT * FROM pg_background_jobs lists exactly them (it used
#     to allocate a copy of every entry, used or not, and fail).
# (g) A file of 25 entries (a queued job, older than 18 of the finished
#     ones) read into a directory of pg_background.max_jobs = 16: it keeps
#     the queued job (now lost_on_restart) and the 15 newest finished jobs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('directory_file');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_background'
max_worker_processes = 8
log_min_messages = warning
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_background');

my $jobs_file = $node->data_dir . '/pg_background.jobs';
my $damaged_file = $node->data_dir . '/pg_background.jobs.damaged';
my $list_sql = q{SELECT string_agg(label || ':' || state, ',' ORDER BY label) FROM pg_background_jobs};

# Three finished jobs.
for my $i (1 .. 3)
{
	$node->safe_psql('postgres', qq{
SELECT pg_background_wait_v2(pid, cookie)
FROM pg_background_submit_v2('SELECT $i', queue_size => 0, label => 'v$i')});
}
ok( $node->poll_query_until('postgres',
		q{SELECT active, queued, directory_used FROM pg_background_admission()}, '0|0|3'),
	'three finished jobs in the directory');
is($node->safe_psql('postgres', $list_sql), 'v1:stopped,v2:stopped,v3:stopped',
	'they are listed');

$node->stop('fast');
ok(-e $jobs_file, 'the postmaster wrote the job directory file');
my $valid = slurp_binary($jobs_file);
my ($magic, $entry_size, $next_seq, $count) = unpack('L L Q l', $valid);
my $header_size = 20;
is($count, 3, 'the file holds three entries');
is(length($valid), $header_size + 3 * $entry_size,
	'its size is the header and three entries');

# Read and write a file as bytes.
sub slurp_binary
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "$path: $!";
	local $/;
	my $data = <$fh>;
	close $fh;
	return $data;
}

sub write_binary
{
	my ($path, $data) = @_;
	open my $fh, '>:raw', $path or die "$path: $!";
	print $fh $data;
	close $fh or die "$path: $!";
}

# Stop the server (if it runs), put $bytes in place of the file, start the
# server, and check what a damaged file must give; $detail is a pattern the
# DETAIL must match.
sub start_with_damaged
{
	my ($what, $bytes, $detail) = @_;
	$node->stop('fast') if $node->{_pid};
	unlink $damaged_file;
	write_binary($jobs_file, $bytes);
	my $log_offset = -s $node->logfile;
	ok($node->start(fail_ok => 1), "$what: the server starts");
	my $log = substr(slurp_file($node->logfile), $log_offset);
	like($log,
		qr/WARNING:  pg_background job directory file "pg_background\.jobs" is damaged\n[^\n]*DETAIL:  $detail The file was renamed to "pg_background\.jobs\.damaged"; the job directory starts empty\.\n/,
		"$what: a WARNING says the file is damaged, why, and where it went");
	unlike($log, qr/FATAL|PANIC/, "$what: no FATAL, no PANIC");
	ok(!-e $jobs_file, "$what: pg_background.jobs is gone");
	ok(-e $damaged_file && slurp_binary($damaged_file) eq $bytes,
		"$what: pg_background.jobs.damaged holds the file, unchanged");
	is( $node->safe_psql('postgres',
			q{SELECT count(*) FROM pg_background_jobs}),
		'0', "$what: pg_background_jobs is empty");
	is( $node->safe_psql('postgres',
			q{SELECT active, queued, directory_used FROM pg_background_admission()}),
		'0|0|0', "$what: no directory entry in use");
	is( $node->safe_psql('postgres',
			q{SELECT * FROM pg_background_result(pg_background_launch('SELECT 42')) AS (x int)}),
		'42', "$what: a new job runs");
}

# (a) A valid header announcing 100,000,000 entries.
my $huge = $valid;
substr($huge, 16, 4) = pack('l', 100_000_000);
start_with_damaged('(a) huge count', $huge,
	qr/The header announces 100000000 entries of $entry_size bytes, but the file holds ${\ length($valid)} bytes\./);

# (b) Random garbage.
srand(57);
my $garbage = join('', map { chr(int(rand(256))) } 1 .. 10_000);
substr($garbage, 0, 4) = pack('L', $magic ^ 0xffffffff);	# never the magic by chance
start_with_damaged('(b) random garbage', $garbage,
	qr/The file does not start with the magic number of a job directory file\./);

# (c) Cut in the middle of the third entry.
my $cut = substr($valid, 0, $header_size + 2 * $entry_size + int($entry_size / 2));
start_with_damaged('(c) truncated', $cut,
	qr/The header announces 3 entries of $entry_size bytes, but the file holds ${\ length($cut)} bytes\./);

# (d) Bytes after the last entry.
my $trailing = $valid . ("\0" x 100);
start_with_damaged('(d) trailing bytes', $trailing,
	qr/The header announces 3 entries of $entry_size bytes, but the file holds ${\ length($trailing)} bytes\./);

# (e) An entry in a state that does not exist.
my $bad_state = $valid;
substr($bad_state, $header_size + $entry_size, 4) = pack('l', 99);
start_with_damaged('(e) bad state', $bad_state,
	qr/Entry 2 of 3 is not a valid job entry\./);

# The valid file still loads.
$node->stop('fast');
unlink $damaged_file;
write_binary($jobs_file, $valid);
my $log_offset = -s $node->logfile;
$node->start;
is($node->safe_psql('postgres', $list_sql), 'v1:stopped,v2:stopped,v3:stopped',
	'the valid file loads: its three jobs are listed');
ok(!-e $jobs_file && !-e $damaged_file, 'and it was removed, not set aside');
unlike(substr(slurp_file($node->logfile), $log_offset), qr/pg_background job directory file/,
	'and nothing was logged about it');

# (f) A directory of 400,000 entries with a few jobs.
$node->append_conf('postgresql.conf', 'pg_background.max_jobs = 400000');
$node->restart;
is($node->safe_psql('postgres', 'SHOW pg_background.max_jobs'), '400000',
	'(f) max_jobs = 400000');
for my $i (4 .. 5)
{
	$node->safe_psql('postgres', qq{
SELECT pg_background_wait_v2(pid, cookie)
FROM pg_background_submit_v2('SELECT $i', queue_size => 0, label => 'v$i')});
}
my ($ret, $out, $err) = $node->psql('postgres', "SELECT * FROM pg_background_jobs");
is($ret, 0, '(f) SELECT * FROM pg_background_jobs works');
is($err, '', '(f) and raises nothing');
is($node->safe_psql('postgres', $list_sql),
	'v1:stopped,v2:stopped,v3:stopped,v4:stopped,v5:stopped',
	'(f) it lists exactly the five jobs');
is( $node->safe_psql('postgres',
		q{SELECT directory_used, directory_size FROM pg_background_admission()}),
	'5|400000', '(f) five entries of 400000 in use');

# (g) A file with more entries than the directory holds: it keeps the jobs
# that had not finished, then the newest.
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', 'CREATE EXTENSION pg_background');
$node->safe_psql('postgres',
	'ALTER SYSTEM SET pg_background.max_workers_per_database = 1');
$node->reload;
ok($node->poll_query_until('postgres', 'SHOW pg_background.max_workers_per_database', '1'),
	'(g) max_workers_per_database = 1 in effect');
my $locker = $node->background_psql('postgres');
$locker->query_safe('SELECT pg_advisory_lock(5701)');
$node->safe_psql('postgres', q{
SELECT pg_background_submit_v2('SELECT pg_advisory_xact_lock(5701)', queue_size => 0, label => 'q_blocked')});
ok( $node->poll_query_until('postgres', q{
SELECT count(*) FROM pg_stat_activity
WHERE backend_type = 'pg_background' AND wait_event = 'advisory'}, '1'),
	'(g) q_blocked waits for the advisory lock');
cmp_ok( $node->safe_psql('postgres', q{
SELECT pid FROM pg_background_submit_v2('SELECT 1', queue_size => 0, label => 'q_queued')}),
	'<', 0, '(g) q_queued is queued behind it');
for my $i (1 .. 18)
{
	my $label = sprintf('k%02d', $i);
	$node->safe_psql('other', qq{
SELECT pg_background_wait_v2(pid, cookie)
FROM pg_background_submit_v2('SELECT $i', queue_size => 0, label => '$label')});
}
is($node->safe_psql('postgres', q{SELECT directory_used FROM pg_background_admission()}),
	'25', '(g) 25 entries in use');
$node->append_conf('postgresql.conf', 'pg_background.max_jobs = 16');
$node->restart;
eval { $locker->quit; };
is($node->safe_psql('postgres', $list_sql),
	join(',', (map { sprintf('k%02d:stopped', $_) } 4 .. 18), 'q_queued:lost_on_restart'),
	'(g) with max_jobs = 16: the queued job and the 15 newest finished ones');

$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, qr/TRAP:|PANIC/, 'no TRAP, no PANIC');
done_testing();
