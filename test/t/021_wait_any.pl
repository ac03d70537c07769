# pg_background_wait_any:
#
# - 8 jobs launched with launch_v2, each blocked on its own advisory lock
#   held by a second session.  The first session waits with
#   pg_background_wait_any(array of the 8 handles) and records
#   clock_timestamp() right after it returns; the second session releases
#   job 5's lock only.  wait_any returns job 5's handle, no earlier than job
#   5's finished_at (pg_background_outcome; both times come from the
#   server's clock), and while the 7 other jobs are still running, blocked
#   on their locks, which are released only afterwards: so it returned on
#   the first job to finish, without waiting for the others (no bound in
#   milliseconds, which a slow machine could exceed).
# - The other locks released, wait_any on the handles not yet returned,
#   repeatedly, returns every one of the 8 exactly once.
# - wait_any with a timeout of 200 ms on blocked jobs returns NULL, and
#   wait_v2_timeout false, each more than 199 ms after its statement
#   started, and no sooner than 200 ms.
# - Query cancel (pg_cancel_backend of the waiting session) interrupts
#   wait_v2 and wait_any with 57014; the jobs go on.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest;

my $node = PostgreSQL::Test::Cluster->new('wait_any');
$node->init;
$node->append_conf('postgresql.conf', 'max_worker_processes = 24');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_background');

my $locker = $node->background_psql('postgres');
my $s = $node->background_psql(
	'postgres',
	on_error_stop => 0,
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);

my ($s_pid) = run_query($s, 'SELECT pg_backend_pid()');
my ($out, $err);

# Launch a job blocked on advisory lock $key; return "pid,cookie".
sub launch_blocked
{
	my ($n, $key) = @_;
	my ($o, $e) = run_query($s, 
		"SELECT pid || ',' || cookie FROM pg_background_launch_v2('SELECT $n AS job FROM pg_advisory_xact_lock($key)')"
	);
	die "launch failed: $e" if $e ne '';
	return $o;
}

sub handle_array
{
	return 'ARRAY[' . join(', ', map { "($_)" } @_) . ']::pg_background_handle[]';
}

sub pids_of
{
	return join(', ', map { (split /,/)[0] } @_);
}

# Wait until every one of these workers waits for its advisory lock.
sub wait_blocked
{
	my ($what, @handles) = @_;
	my $n = scalar @handles;
	ok( $node->poll_query_until(
			'postgres', sprintf(q{
SELECT count(*) = %d FROM pg_stat_activity
WHERE pid IN (%s) AND wait_event_type = 'Lock' AND wait_event = 'advisory'},
				$n, pids_of(@handles))),
		"$what: the $n jobs wait for their locks");
}

# Wait until the waiting session sleeps in one of our waits.
sub wait_session_waiting
{
	my ($what) = @_;
	ok( $node->poll_query_until(
			'postgres', qq{
SELECT state = 'active' AND wait_event_type = 'Extension'
FROM pg_stat_activity WHERE pid = $s_pid}),
		"$what: the session is waiting");
}

# ---------------------------------------------------------------------------
# 8 blocked jobs; releasing job 5's lock wakes wait_any with job 5's handle.
# ---------------------------------------------------------------------------
$locker->query_safe(
	'SELECT ' . join(', ', map { "pg_advisory_lock(2100 + $_)" } 1 .. 8));
my @h = map { launch_blocked($_, 2100 + $_) } 1 .. 8;
wait_blocked('8 jobs', @h);

$s->query_until(
	qr/waiting\n/, sprintf(q{\echo waiting
CREATE TEMP TABLE first_over AS
SELECT (h).pid, (h).cookie, clock_timestamp() AS returned_at
FROM (SELECT pg_background_wait_any(%s) AS h OFFSET 0) s;
}, handle_array(@h)));
wait_session_waiting('wait_any on 8 jobs');

$locker->query_safe('SELECT pg_advisory_unlock(2105)');
($out, $err) = run_query($s, q{SELECT pid || ',' || cookie FROM first_over});
is($err, '', 'wait_any returned');
is($out, $h[4], 'wait_any returned the handle of job 5');

($out, $err) = run_query($s, q{
SELECT o.state, f.returned_at >= o.finished_at,
       round(extract(epoch FROM f.returned_at - o.finished_at) * 1000, 3)
FROM first_over f, pg_background_outcome(f.pid, f.cookie) o});
my ($state, $after_finish, $latency_ms) = split /\|/, $out;
is($state, 'stopped', 'job 5 is stopped');
is($after_finish, 't', 'wait_any returned no earlier than job 5 finished');
diag("wait_any latency: $latency_ms ms from job 5's finished_at to the return");

# The upper bound: wait_any has returned (the query above ran after it in
# the same session), and the 7 other jobs have not finished; their locks
# are still held, so none of them can finish before they are released below.
($out, $err) = run_query($s, sprintf(q{
SELECT string_agg(o.state || ':' || (o.finished_at IS NULL), ',')
FROM unnest(%s) AS h, pg_background_outcome((h).pid, (h).cookie) o},
	handle_array(@h[ 0 .. 3, 5 .. 7 ])));
is($err, '', 'the outcomes of the other jobs');
is($out, join(',', ('running:true') x 7),
	'when wait_any returned, the 7 other jobs were still running');
wait_blocked('after wait_any returned', @h[ 0 .. 3, 5 .. 7 ]);

($out, $err) = run_query($s, 
	"SELECT * FROM pg_background_result_v2($h[4]) AS (job int)");
is($out, '5', 'job 5 reads 5');

# ---------------------------------------------------------------------------
# Release the others; wait_any on those not yet returned until all are.
# ---------------------------------------------------------------------------
$locker->query_safe(
	'SELECT ' . join(', ', map { "pg_advisory_unlock(2100 + $_)" } 1 .. 4, 6 .. 8));
my %returned = ($h[4] => 1);
my @remaining = grep { $_ ne $h[4] } @h;
my $rounds = 0;
while (@remaining && $rounds++ < 20)
{
	($out, $err) = run_query($s, sprintf(q{
SELECT (h).pid || ',' || (h).cookie
FROM (SELECT pg_background_wait_any(%s) AS h OFFSET 0) s},
			handle_array(@remaining)));
	last if $err ne '' || !grep { $_ eq $out } @remaining;
	$returned{$out}++;
	@remaining = grep { $_ ne $out } @remaining;
}
is($err, '', 'wait_any on the remaining jobs');
is(scalar @remaining, 0, 'wait_any returned every job');
is(scalar(keys %returned), 8, '8 distinct handles were returned');
ok(!grep({ $returned{$_} != 1 } keys %returned), 'each exactly once');
ok(!grep({ !exists $returned{$_} } @h), 'all of them ours');

my @jobs;
for my $i (0 .. 7)
{
	next if $i == 4;
	($out, $err) = run_query($s, 
		"SELECT * FROM pg_background_result_v2($h[$i]) AS (job int)");
	push @jobs, $out;
}
is(join(',', @jobs), '1,2,3,4,6,7,8', 'each job returns its own number');

# All are over: wait_any returns the first of the array at once.
($out, $err) = run_query($s, sprintf(q{
SELECT (h).pid || ',' || (h).cookie
FROM (SELECT pg_background_wait_any(%s, 0) AS h OFFSET 0) s},
		handle_array(reverse @h)));
is($out, $h[7], 'with all over, wait_any returns the first handle of the array');

# ---------------------------------------------------------------------------
# A timeout on blocked jobs returns NULL.
# ---------------------------------------------------------------------------
$locker->query_safe('SELECT pg_advisory_lock(2201), pg_advisory_lock(2202)');
my @b = (launch_blocked(21, 2201), launch_blocked(22, 2202));
wait_blocked('timeout', @b);
# Each also says how long it waited, measured inside the statement from
# statement_timestamp() (a lower bound the wait guarantees on any machine,
# however fast or slow): more than 199 ms (the waits count whole
# milliseconds, rounded up, so they may return within the last one), and,
# as handles.md promises, at least 200 ms.
my $waited = q{clock_timestamp() - statement_timestamp() > interval '199 ms'}
  . q{, clock_timestamp() - statement_timestamp() >= interval '200 ms'};
my %full;
($out, $err) = run_query($s, sprintf(
	q{SELECT h IS NULL, %s FROM (SELECT pg_background_wait_any(%s, 200) AS h OFFSET 0) w},
	$waited, handle_array(@b)));
is($err, '', 'wait_any with a timeout');
my @w = split /\|/, $out;
is("$w[0]|$w[1]", 't|t',
	'wait_any with a timeout of 200 ms on blocked jobs returns NULL, after more than 199 ms');
$full{wait_any} = $w[2];
($out, $err) = run_query($s, sprintf(
	q{SELECT over, %s FROM (SELECT pg_background_wait_v2_timeout(%s, 200) AS over OFFSET 0) w},
	$waited, $b[0]));
@w = split /\|/, $out;
is("$w[0]|$w[1]", 'f|t',
	'wait_v2_timeout of 200 ms on a blocked job returns false, after more than 199 ms');
$full{wait_v2_timeout} = $w[2];
is($full{$_}, 't', "$_ with a timeout of 200 ms returns no sooner than 200 ms")
  for qw(wait_any wait_v2_timeout);

# ---------------------------------------------------------------------------
# Query cancel interrupts wait_v2 and wait_any.
# ---------------------------------------------------------------------------
$s->query_until(qr/waiting\n/,
	sprintf("\\echo waiting\nSELECT pg_background_wait_v2(%s);\n", $b[0]));
wait_session_waiting('wait_v2');
is($node->safe_psql('postgres', "SELECT pg_cancel_backend($s_pid)"),
	't', 'wait_v2: session cancelled');
($out, $err) = run_query($s, q{SELECT 'alive'});
like($err, qr/ERROR:  57014: canceling statement due to user request/,
	'wait_v2 was interrupted with 57014');
is($out, 'alive', 'the session is usable afterwards');

$s->query_until(qr/waiting\n/,
	sprintf("\\echo waiting\nSELECT pg_background_wait_any(%s);\n",
		handle_array(@b)));
wait_session_waiting('wait_any');
is($node->safe_psql('postgres', "SELECT pg_cancel_backend($s_pid)"),
	't', 'wait_any: session cancelled');
($out, $err) = run_query($s, q{SELECT 'alive'});
like($err, qr/ERROR:  57014: canceling statement due to user request/,
	'wait_any was interrupted with 57014');
is($out, 'alive', 'the session is usable afterwards');

# The jobs were not touched: still running, and they finish once released.
($out, $err) = run_query($s, sprintf(
	q{SELECT state FROM pg_background_jobs WHERE pid IN (%s)}, pids_of(@b)));
is($out, "running\nrunning", 'the jobs still run after the interrupted waits');
$locker->query_safe('SELECT pg_advisory_unlock(2201), pg_advisory_unlock(2202)');
($out, $err) = run_query($s, 
	sprintf(q{SELECT pg_background_wait_v2(%s); SELECT pg_background_wait_v2(%s);
SELECT string_agg(o.state, ',') FROM (VALUES (%s), (%s)) v(p, c), pg_background_outcome(p, c) o},
		@b, @b));
is($err, '', 'wait_v2 after the release');
like($out, qr/stopped,stopped$/, 'both jobs finished');

$s->quit;
$locker->quit;
$node->stop;
done_testing();
