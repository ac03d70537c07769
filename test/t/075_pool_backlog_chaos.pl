
# Copyright: see LICENSE.
#
# The warm pool under a backlog (pool.c: launches that wait for a pooled
# worker about to park, the pool growing past pool_size and shrinking)
# while everything that can go wrong happens at once; then exact checks of
# what ran against what each launch returned, and of what the pool kept.
#
# One node: preload, pool_size = 1 at the start, pool_idle_timeout an hour,
# no eviction of finished jobs from the directory.  Eight client sessions
# of the same role (one pool user: every launch competes for the same
# pooled workers) run psql scripts drawn by a seeded PRNG
# (PGBG_BACKLOG_SEED, PGBG_BACKLOG_JOBS, default 2000 jobs).  Every job is
# INSERT INTO bk_r VALUES (<id>), a job of a millisecond or so: pooled
# workers are busy for less than the launch's wait for them, so launches
# wait in pgbg_pool_await all the time.  Each job is one of:
#   to   launch_v2 under statement_timeout = 1-10 ms (the timeout often
#        fires while the launch waits for a pooled worker), then detach_v2
#        by the handle; if the launch statement failed, the job is looked
#        up by its id and detach_v2 tells whether its launch had returned
#        (a launch that returned leaves the job in the session);
#   v1d  pg_background_launch, then pg_background_detach;
#   lr   launch_v2, then result_v2 (the command tag comes back).
# Meanwhile a control session terminates a random pg_background worker
# (running, parked or starting) and sets pool_size to 0, 1, 2 or 4 by
# reload, at random, until every client is done.
#
# Checks, once the directory has settled:
#   - every job has at most one directory entry and at most one row;
#     'stopped' <=> its row is there; a job whose launch raised an error
#     has no row (and no entry, or one 'canceled' or 'error'); a job whose
#     launch returned has its entry, not recorded as abandoned; an lr
#     result that came back is 'stopped';
#   - only the errors each statement may raise (57014 for a timed-out
#     launch or the RESET after it, 53000 for a launch whose worker was
#     terminated as it started, 55000/42704 for the lookup of a failed
#     launch, 57P01/08006 for result_v2 of a terminated worker);
#   - the pool leaked no place and no worker: with pool_size = 2, every
#     pg_background backend is a parked one, and two jobs run at once
#     from two sessions both park afterwards (a place lost for good
#     would leave room for only one), then a third launch runs on one of
#     them (no new process);
#   - no crash, assertion failure or PANIC in the server log.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest qw(:DEFAULT pool_session wait_parked poll_until script_new
  script_add script_add_tlaunch script_write script_read_log);
use POSIX qw(WNOHANG);
use Time::HiRes qw(time);

my $njobs = $ENV{PGBG_BACKLOG_JOBS} // 2000;
my $seed = $ENV{PGBG_BACKLOG_SEED} // (int(time() * 1000) ^ $$) % 2147483647;
my $tag = "[backlog seed $seed]";
diag("backlog chaos: $njobs jobs, seed $seed");
srand($seed);

my $nsessions = 8;
my $node = PostgreSQL::Test::Cluster->new('backlog_chaos');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_background'
max_worker_processes = 20
max_connections = 40
max_parallel_workers_per_gather = 0
fsync = off
pg_background.pool_size = 1
pg_background.pool_idle_timeout = 3600
pg_background.max_jobs = @{[ 2 * $njobs + 1024 ]}
pg_background.max_finished = 1000000
pg_background.finished_ttl = 1000000000
pg_background.max_queued = 1000000
pg_background.max_queued_per_role = -1
log_min_messages = log
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE ROLE bk LOGIN;
SELECT grant_pg_background_privileges('bk', false);
CREATE TABLE bk_r (id int);   -- no unique key: a duplicate must show
GRANT SELECT, INSERT ON bk_r TO PUBLIC;
});

my @scripts = map { script_new() } 1 .. $nsessions;
my %kind;

sub add
{
	my $s = shift;
	return script_add($scripts[$s], @_);
}

for my $id (1 .. $njobs)
{
	my $s = int(rand($nsessions));
	my $r = rand();
	my $k = $r < 0.6 ? 'to' : $r < 0.85 ? 'v1d' : 'lr';
	my $sql = "INSERT INTO bk_r VALUES ($id)";
	$kind{$id} = $k;
	if ($k eq 'to')
	{
		script_add_tlaunch($scripts[$s], $id, $sql, 1 + int(rand(10)),
			"= '$sql'");
	}
	elsif ($k eq 'v1d')
	{
		add($s, "SELECT pg_background_detach(pg_background_launch('$sql'));",
			'launch', $id);
	}
	else
	{
		add($s, "SELECT pid, cookie FROM pg_background_launch_v2('$sql') \\gset h${id}_",
			'launch', $id);
		add($s, "\\if :{?h${id}_pid}");
		add($s, "SELECT 'R:$id:' || r FROM pg_background_result_v2(:h${id}_pid, :h${id}_cookie) AS (r text);",
			'result', $id);
		add($s, '\\endif');
	}
}

my %allowed = (
	tlaunch => { '57014' => 1, '53000' => 1 },
	launch => { '53000' => 1 },
	lookup => { '55000' => 1, '42704' => 1 },
	reset => { '57014' => 1 },
	result => { '57P01' => 1, '08006' => 1 },
);

# Run the scripts while the control session terminates workers and
# changes pool_size.
my $dir = $node->basedir;
my @procs;
for my $s (0 .. $nsessions - 1)
{
	my $f = "$dir/bk_s$s";
	script_write($scripts[$s], "$f.sql");
	my @cmd = (
		$node->installed_command('psql'), '-XAtq', '-d', 'postgres',
		'-U', 'bk', '-h', $node->host, '-p', $node->port,
		'-v', 'ON_ERROR_STOP=0', '-v', 'VERBOSITY=verbose', '-f', "$f.sql");
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDOUT, '>', "$f.out") or POSIX::_exit(126);
		open(STDERR, '>', "$f.err") or POSIX::_exit(126);
		exec(@cmd) or POSIX::_exit(127);
	}
	push @procs, { pid => $pid, file => $f, s => $s };
}

my $ctl = $node->background_psql('postgres');
$ctl->query_safe('SET client_min_messages = error');
my ($terminated, $reloads) = (0, 0);
my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default + $njobs / 10;
my $running = scalar @procs;
while ($running > 0)
{
	for my $p (@procs)
	{
		next if defined $p->{status};
		if (waitpid($p->{pid}, WNOHANG) == $p->{pid})
		{
			$p->{status} = $?;
			$running--;
		}
	}
	if (time() > $deadline)
	{
		kill 'TERM', map { $_->{pid} } grep { !defined $_->{status} } @procs;
		fail("the clients did not finish in time $tag");
		last;
	}
	my $r = rand();
	if ($r < 0.4)
	{
		$terminated += $ctl->query_safe(q{
SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM (
  SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_background'
  ORDER BY random() LIMIT 1) s});
	}
	elsif ($r < 0.6)
	{
		my @sizes = (0, 1, 1, 2, 4);
		$ctl->query_safe('ALTER SYSTEM SET pg_background.pool_size = '
			  . $sizes[ int(rand(@sizes)) ]);
		$ctl->query_safe('SELECT pg_reload_conf()');
		$reloads++;
	}
	# Pacing of the chaos, not a wait for a worker.
	select(undef, undef, undef, 0.002 + rand(0.01));
}
waitpid($_->{pid}, 0) for grep { !defined $_->{status} } @procs;
diag("terminated $terminated workers, $reloads reloads of pool_size $tag");

# What the clients saw.
my (%tlaunch, %results, %launch_err, %result_err);
my $unexpected = 0;
for my $p (@procs)
{
	my ($s, $f) = ($p->{s}, $p->{file});
	is($p->{status} // -1, 0, "session $s: psql exited normally $tag");
	my $r = script_read_log($scripts[$s], $f, \%allowed, "session $s $tag");
	$unexpected += $r->{unexpected};
	%launch_err = (%launch_err, %{ $r->{launch_err} });
	%result_err = (%result_err, %{ $r->{result_err} });
	%results = (%results, %{ $r->{results} });
	%tlaunch = (%tlaunch, %{ $r->{tlaunch} });
}
is($unexpected, 0, "no unexpected error $tag");

# Settle: nothing active or queued, no worker busy.
ok( $node->poll_query_until(
		'postgres', 'SELECT active, queued FROM pg_background_admission()', '0|0'),
	"nothing active or queued in the directory $tag");
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) FROM pg_stat_activity
		  WHERE backend_type = 'pg_background' AND state <> 'idle'}, '0'),
	"no pg_background worker is busy $tag");

# What ran, against what each launch returned.
my (%rec, %rows);
for my $l (split /\n/, $node->safe_psql('postgres', q{
SELECT coalesce(substring(sql_preview FROM '^INSERT INTO bk_r VALUES \((\d+)\)'), '?'),
       state, coalesce(sqlstate, ''), coalesce(last_error, '')
FROM pg_background_jobs}))
{
	my ($id, $state, $sqlstate, $msg) = split /\|/, $l, 4;
	push @{ $rec{$id} }, { state => $state, sqlstate => $sqlstate, msg => $msg };
}
for my $l (split /\n/, $node->safe_psql('postgres',
		'SELECT id, count(*) FROM bk_r GROUP BY id'))
{
	my ($id, $n) = split /\|/, $l;
	$rows{$id} = $n;
}
my $abandoned =
  'the job did not run: its launch failed before the worker started it';
my @bad;
my %tally;
for my $id (1 .. $njobs)
{
	my $recs = $rec{$id} // [];
	my $rows = $rows{$id} // 0;
	my $failed = ($kind{$id} eq 'to' && $tlaunch{$id} eq 'failed')
	  || defined $launch_err{$id};
	$tally{ $kind{$id} . '/' . ($failed ? 'failed' : 'returned') . '/'
		  . (@$recs ? $recs->[0]{state} : 'none') }++;
	push(@bad, "job $id: " . scalar(@$recs) . ' entries'), next if @$recs > 1;
	push @bad, "job $id: its row is there $rows times" if $rows > 1;
	if (!@$recs)
	{
		push @bad, "job $id: its launch returned, but it has no entry (lost)"
		  unless $failed;
		push @bad, "job $id: no entry, but its row is there" if $rows;
		next;
	}
	my $r = $recs->[0];
	my $desc = "$r->{state} $r->{sqlstate} $r->{msg}";
	if ($r->{state} eq 'stopped')
	{
		push @bad, "job $id: 'stopped' but no row" unless $rows == 1;
	}
	elsif ($r->{state} eq 'error' || $r->{state} eq 'canceled')
	{
		push @bad, "job $id: $desc, but its row is there" if $rows;
	}
	else
	{
		push @bad, "job $id: not over at the end: $desc";
	}
	if ($failed)
	{
		push @bad, "job $id: its launch failed, but its row is there" if $rows;
		push @bad, "job $id: its launch failed, recorded as $desc"
		  unless $r->{state} eq 'canceled' || $r->{state} eq 'error';
	}
	else
	{
		push @bad, "job $id: its launch returned, recorded as $desc"
		  if $r->{msg} eq $abandoned;
	}
	push @bad, "job $id: its result came back, recorded as $desc"
	  if defined $results{$id} && $r->{state} ne 'stopped';
	push @bad, "job $id: its result raised $result_err{$id}, recorded as $desc"
	  if defined $result_err{$id} && $r->{state} eq 'stopped';
}
note(join(', ', map { "$_=$tally{$_}" } sort keys %tally));
diag($_) for @bad[ 0 .. ($#bad < 19 ? $#bad : 19) ];
is(scalar @bad, 0, "every job ran at most once, as its launch said $tag");
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM bk_r WHERE id NOT BETWEEN 1 AND } . $njobs),
	'0', "no row without a job $tag");

# The pool kept no place and no worker: pool_size = 2, then two jobs at
# once must both park.
$ctl->query_safe('ALTER SYSTEM SET pg_background.pool_size = 2');
$ctl->query_safe('SELECT pg_reload_conf()');
ok( poll_until($node, q{
SELECT count(*) = (SELECT pool_idle FROM pg_background_admission())
   AND count(*) <= 2
FROM pg_stat_activity WHERE backend_type = 'pg_background'}, 't',
		$PostgreSQL::Test::Utils::timeout_default),
	"every pg_background backend left is parked, at most pool_size of them $tag");
$ctl->query_safe('SELECT pg_advisory_lock(42)');
my @two = map { pool_session($node, 'bk') } (1, 2);
my @pids;
for my $s (@two)
{
	my ($o, $e) = run_query($s,
		q{SELECT pg_background_launch('SELECT pg_advisory_xact_lock(42)')});
	push @pids, $o;
}
ok( $node->poll_query_until('postgres', qq{
SELECT count(*) = 2 FROM pg_stat_activity
WHERE pid IN ($pids[0], $pids[1]) AND wait_event = 'advisory'}),
	"two jobs wait for the lock at once $tag");
$ctl->query_safe('SELECT pg_advisory_unlock(42)');
for my $i (0, 1)
{
	my ($o, $e) = run_query($two[$i],
		"SELECT count(*) FROM pg_background_result($pids[$i]) AS (x text)");
	is($o . $e, '1', "job " . ($i + 1) . " of two ran $tag");
}
ok( poll_until($node, q{SELECT pool_idle FROM pg_background_admission()}, '2',
		$PostgreSQL::Test::Utils::timeout_default),
	"both workers park: the pool has its two places $tag");
my ($o, $e) = run_query($two[0],
	q{SELECT * FROM pg_background_result(pg_background_launch('SELECT pg_backend_pid()')) AS (p int)});
ok($o eq $pids[0] || $o eq $pids[1],
	"a third job runs on one of the parked workers ($o$e) $tag");
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background'}),
	'2', "no other worker started $tag");
$_->quit for (@two, $ctl);
$node->stop;

my $log = slurp_file($node->logfile);
unlike($log, qr/TRAP|PANIC|terminated by signal/, "no crash in the log $tag");

done_testing();
