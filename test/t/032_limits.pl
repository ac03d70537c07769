# Limits: worker slots, tiny and big queues, wide rows, huge values.
#
# (a) Slot exhaustion with max_worker_processes = 4: once the free slots
#     hold blocked jobs, launch raises 53000 "could not register background
#     process" with HINT "You may need to increase max_worker_processes
#     (currently 4)."; the failed launch leaves no worker behind; the
#     launcher stays usable; once the jobs finish, launching works again.
# (b) queue_size 65 (one byte above the minimum of 64) carries 5 MB of
#     results (5,000 rows of 1,000 bytes): right count and total length.
#     (Every 8 bytes cross the queue on their own: ~30 s.)
# (c) A job returning 10,000 columns: the worker's 54011 "target lists can
#     have at most 1664 entries" reaches the launcher, with the worker's
#     context line; a column definition list of 10,000 columns is the
#     launcher's own 54011; the launcher stays usable either way.
# (d) 1,600 columns (the most a column definition list may have) that match
#     the job's: the row comes through, every column in place.
# (e) A text value of 1 GB - 100 bytes (just below the 1 GB allocation
#     limit) arrives whole: the right length, no error, no crash.  One such
#     job only (it needs a few GB of memory).
# (f) A text value of 300 MB through queue_size 65536: the right length.
# (g) None of this crashed the server: no process terminated by a signal,
#     no PANIC, no crash and restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest;

my $E = qr/^(?:psql:\S+: )?ERROR:  /m;

my $node = PostgreSQL::Test::Cluster->new('limits');
$node->init;
$node->append_conf('postgresql.conf', qq{
max_worker_processes = 4
max_parallel_workers = 0
max_parallel_workers_per_gather = 0
log_min_messages = log
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE TABLE t (i int);
});

my $launcher = $node->background_psql(
	'postgres',
	on_error_stop => 0,
	timeout => 900,
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
# Some of the queries below take minutes: the timeout (900 s) is per query.
$launcher->set_query_timer_restart;
my ($launcher_pid) = run_query($launcher, 'SELECT pg_backend_pid()');
my ($out, $err);
my $workers_sql =
  q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background'};

sub launcher_alive
{
	my ($what) = @_;
	my ($o, $e) = run_query($launcher, q{SELECT 'alive', pg_backend_pid()});
	is($o, "alive|$launcher_pid", "$what: the launcher session is usable");
	is($e, '', "$what: and healthy");
}

# ---------------------------------------------------------------------------
# (a) Slot exhaustion.
# ---------------------------------------------------------------------------
# Background workers that are not ours hold slots too (on a default node,
# the logical replication launcher).
my $other_bgw = $node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'logical replication launcher'});
my $free_slots = 4 - $other_bgw;

my $locker = $node->background_psql('postgres');
$locker->query_safe('SELECT pg_advisory_lock(6001)');
my @pids;
my $launch_err = '';
for my $i (1 .. 8)
{
	($out, $err) = run_query($launcher,
		"SELECT pg_background_launch('INSERT INTO t SELECT $i FROM pg_advisory_xact_lock(6001)')");
	if ($err ne '')
	{
		$launch_err = $err;
		last;
	}
	push @pids, $out;
}
is(scalar(@pids), $free_slots, "(a) $free_slots launches fill the free slots");
like($launch_err,
	qr/${E}53000: could not register background process$/m,
	'(a) the next launch raises 53000');
like($launch_err,
	qr/^HINT:  You may need to increase max_worker_processes \(currently 4\)\.$/m,
	'(a) with a HINT naming max_worker_processes');
($out, $err) = run_query($launcher,
	q{SELECT pg_background_launch_v2('SELECT 1') IS NOT NULL});
like($err, qr/${E}53000: could not register background process$/m,
	'(a) launch_v2 too');
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background' AND wait_event = 'advisory'},
		scalar(@pids)),
	'(a) the jobs that got a slot wait for the lock');
is($node->safe_psql('postgres', $workers_sql), scalar(@pids),
	'(a) the failed launches left no worker behind');
launcher_alive('(a)');
$locker->query_safe('SELECT pg_advisory_unlock(6001)');
for my $p (@pids)
{
	($out, $err) = run_query($launcher,
		"SELECT * FROM pg_background_result($p) AS (r text)");
	is($out, 'INSERT 0 1', '(a) a job that held a slot finishes');
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'),
	$free_slots, '(a) every job that got a slot committed');
# The postmaster frees an exited worker's slot shortly after the worker is
# gone, so retry until a launch succeeds.
ok( $node->poll_query_until(
		'postgres',
		q{SELECT * FROM pg_background_result(pg_background_launch('SELECT 42')) AS (x int)},
		'42'),
	'(a) launching works again once the slots are free');
($out, $err) = run_query($launcher,
	q{SELECT * FROM pg_background_result(pg_background_launch('SELECT 43')) AS (x int)});
is($out, '43', '(a) also from the session whose launch failed');
is($err, '', '(a) without error');
$locker->quit;

# ---------------------------------------------------------------------------
# (b) 5 MB through a 65-byte queue (an 8-byte ring: one round trip between
# worker and launcher per 8 bytes, ~50 us each on a 2-core VM; 100 MB took
# ten minutes).
# ---------------------------------------------------------------------------
($out, $err) = run_query($launcher, q{
SELECT count(*), sum(length(x))
FROM pg_background_result(
	pg_background_launch('SELECT repeat(''x'', 1000) FROM generate_series(1, 5000)', 65)
) AS (x text)});
is($out, '5000|5000000', '(b) 5 MB of rows through queue_size 65');
is($err, '', '(b) without error');
($out, $err) = run_query($launcher, q{SELECT pg_background_launch('SELECT 1', 63)});
like($err, qr/${E}22023: queue size must be between 64 and 1073741824 bytes$/m,
	'(b) while 63 bytes is refused');

# ---------------------------------------------------------------------------
# (c) 10,000 columns.
# ---------------------------------------------------------------------------
my $sql10k = 'SELECT ' . join(', ', map { "$_ AS c$_" } 1 .. 10000);
($out, $err) = run_query($launcher,
	"SELECT * FROM pg_background_result(pg_background_launch('$sql10k')) AS (c1 int)");
like($err, qr/${E}54011: target lists can have at most 1664 entries$/m,
	"(c) the worker's 54011 reaches the launcher");
like($err, qr/^CONTEXT:  background worker, PID \d+$/m,
	'(c) naming the worker');
is($out, '', '(c) no rows');
launcher_alive('(c) after the worker error');

my $coldef10k = join(', ', map { "c$_ int" } 1 .. 10000);
($out, $err) = run_query($launcher,
	"SELECT count(*) FROM pg_background_result(pg_background_launch('$sql10k')) AS ($coldef10k)");
like($err, qr/${E}54011: column definition lists can have at most 1600 entries$/m,
	'(c) a 10,000-column definition list is refused by the launcher itself');
launcher_alive('(c) after the launcher error');
ok($node->poll_query_until('postgres', $workers_sql, '0'),
	'(c) no worker left');

# ---------------------------------------------------------------------------
# (d) 1,600 matching columns.
# ---------------------------------------------------------------------------
my $sql1600 = 'SELECT ' . join(', ', map { $_ % 2 ? "$_ AS c$_" : "'v$_'::text AS c$_" } 1 .. 1600);
my $coldef1600 = join(', ', map { $_ % 2 ? "c$_ int" : "c$_ text" } 1 .. 1600);
($out, $err) = run_query($launcher,
	"SELECT c1, c2, c799, c800, c1599, c1600 FROM pg_background_result(pg_background_launch('" .
	  ($sql1600 =~ s/'/''/gr) . "')) AS ($coldef1600)");
is($out, '1|v2|799|v800|1599|v1600', '(d) a row of 1,600 columns comes through');
is($err, '', '(d) without error');
# Every column in place: sum of the int columns, count of matching texts.
my $checks = join(' + ', map { $_ % 2 ? "c$_" : "(c$_ = 'v$_')::int" } 1 .. 1600);
($out, $err) = run_query($launcher,
	"SELECT $checks FROM pg_background_result(pg_background_launch('" .
	  ($sql1600 =~ s/'/''/gr) . "')) AS ($coldef1600)");
is($out, 640000 + 800, '(d) every column holds its own value');
is($err, '', '(d) without error');

# ---------------------------------------------------------------------------
# (e) A 1 GB - 100 bytes value.
# ---------------------------------------------------------------------------
my $log_offset = -s $node->logfile;
($out, $err) = run_query($launcher, q{
SELECT length(x) FROM pg_background_result(
	pg_background_launch('SELECT repeat(''x'', 1024 * 1024 * 1024 - 100)', 65536)
) AS (x text)});
is($out, '1073741724', '(e) the value arrives whole (1 GB - 100 bytes)');
is($err, '', '(e) without error');
unlike($err, qr/lost connection|server closed|terminat/,
	'(e) neither the launcher nor the worker died');
launcher_alive('(e)');
ok($node->poll_query_until('postgres', $workers_sql, '0'),
	'(e) no worker left');
{
	my $log = slurp_file($node->logfile, $log_offset);
	unlike($log, qr/terminated by signal|PANIC|all server processes terminated/,
		'(e) no crash');
}

# ---------------------------------------------------------------------------
# (f) 300 MB through the default queue.
# ---------------------------------------------------------------------------
($out, $err) = run_query($launcher, q{
SELECT length(x), md5(x) = md5(repeat('x', 300 * 1024 * 1024))
FROM pg_background_result(
	pg_background_launch('SELECT repeat(''x'', 300 * 1024 * 1024)', 65536)
) AS (x text)});
is($out, (300 * 1024 * 1024) . '|t', '(f) a 300 MB value arrives whole');
is($err, '', '(f) without error');

launcher_alive('(f)');
$launcher->quit;

# ---------------------------------------------------------------------------
# (g) No crash.
# ---------------------------------------------------------------------------
$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal/, '(g) no process terminated by a signal');
unlike($log, qr/PANIC/, '(g) no PANIC');
unlike($log, qr/all server processes terminated/, '(g) no crash and restart');

done_testing();
