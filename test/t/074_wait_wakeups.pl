
# Copyright: see LICENSE.
#
# Waits of several sessions on the directory's condition variable (preload
# mode) must not wake each other.  Between two turns of a wait, a waiter
# must go back on the variable's list without canceling its sleep: a
# canceled sleep that a broadcast had ended passes a wakeup on to the
# next waiter (ConditionVariableSignal), which did the same at its next
# turn, so that one job's end kept the waiting sessions waking each other
# (thousands of turns each, seconds of CPU) before the chain broke.
#
# Six sessions each launch a job blocked on an advisory lock held by the
# test and wait for it (pg_background_wait_v2; deadlock_timeout is an hour,
# so nothing else wakes them).  Another job runs to its end (one
# broadcast).  Each waiting backend's count of voluntary context switches
# (/proc/<pid>/status, Linux) is read before, and again once it has stopped
# changing: each may have woken a few times, not hundreds.  Then the lock
# is released and every wait returns (no wakeup lost).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest qw(:DEFAULT pool_session);

plan skip_all => 'needs /proc/<pid>/status' unless -r "/proc/$$/status";

my $nwaiters = 6;
my $node = PostgreSQL::Test::Cluster->new('wait_wakeups');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_background'
pg_background.pool_size = 2
max_worker_processes = 16
deadlock_timeout = '1h'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_background');

my $locker = pool_session($node);
$locker->query_safe('SELECT pg_advisory_lock(1)');

# A backend's count of voluntary context switches (each wake-up is one).
sub switches
{
	my ($pid) = @_;
	open my $f, '<', "/proc/$pid/status" or die "/proc/$pid/status: $!";
	my $v;
	while (my $l = <$f>)
	{
		$v = $1 if $l =~ /^voluntary_ctxt_switches:\s+(\d+)/;
	}
	close $f;
	return $v;
}

my @w;
for my $i (1 .. $nwaiters)
{
	my $s = pool_session($node);
	my ($h) = run_query($s, q{
SELECT pid || ',' || cookie
FROM pg_background_launch_v2('SELECT pg_advisory_xact_lock(1)')});
	my ($pid, $cookie) = split /,/, $h;
	my ($bp) = run_query($s, 'SELECT pg_backend_pid()');
	$s->query_until(qr/waiting\n/,
		"\\echo waiting\nSELECT 'waited' FROM pg_background_wait_v2($pid, $cookie);\n");
	push @w, { s => $s, backend => $bp };
}
my $in = join(',', map { $_->{backend} } @w);
ok( $node->poll_query_until('postgres', qq{
SELECT count(*) = $nwaiters FROM pg_stat_activity
WHERE pid IN ($in) AND wait_event_type = 'Extension'}),
	"the $nwaiters sessions wait");

my @before = map { switches($_->{backend}) } @w;

# One job ends: one broadcast on the directory's condition variable.
is($node->safe_psql('postgres',
		q{SELECT * FROM pg_background_result(pg_background_launch('SELECT 1')) AS (x int)}),
	'1', 'a job of another session ran to its end');

# Until the counts stop changing (read 300 ms apart), with a deadline.
my @after = map { switches($_->{backend}) } @w;
my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
for (;;)
{
	usleep(300_000);
	my @now = map { switches($_->{backend}) } @w;
	last if join(',', @now) eq join(',', @after) || time() > $deadline;
	@after = @now;
}
my @woken = map { $after[$_] - $before[$_] } 0 .. $#w;
note("wake-ups of the waiters after one job's end: @woken");
is(scalar(grep { $_ > 20 } @woken), 0,
	"no waiter woke more than 20 times for one job's end (@woken)");

# Every wait still ends when its job does.
$locker->query_safe('SELECT pg_advisory_unlock(1)');
for my $i (0 .. $#w)
{
	my ($o, $e) = run_query($w[$i]{s}, '');
	# The output of the wait started by query_until comes with the next
	# query's.
	like($o, qr/^waited$/m, 'wait ' . ($i + 1) . ' returned once its job ended');
}
$_->{s}->quit for @w;
$locker->quit;
$node->stop;
done_testing();
