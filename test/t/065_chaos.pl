
# Copyright: see LICENSE.
#
# Chaos: the job lifecycle of the shared directory (lifecycle.c) under a
# random mix of everything that can happen to a job at once, then exact
# checks of what the directory recorded against what the jobs did.
#
# One node: shared_preload_libraries = 'pg_background', the pool on
# (pool_size = 4), max_worker_processes = 16, max_workers_per_role = 3,
# dynamic_shared_memory_type = mmap (the node's DSM segments are the files
# of its pg_dynshmem directory), no eviction of finished jobs from the
# directory (max_finished, finished_ttl large, max_jobs above the number of
# jobs), no limit on the queue but the directory's size.
#
# PGBG_CHAOS_JOBS jobs (default 2000; bench/chaos.sh runs 20000), drawn by a
# seeded PRNG (PGBG_CHAOS_SEED, or the time; printed at the start and in
# every test name, so that a failure names it).  The seed replays the same
# scripts; the timing, hence the interleaving, differs from run to run.
# Every job's SQL begins with INSERT INTO chaos_r VALUES (<id>), <id> unique
# to the job, so that pg_background_jobs.sql_preview names the job and the
# table shows exactly which jobs committed.  After the INSERT, in the same
# transaction, a job may sleep (pg_sleep of 10-50 ms) or take an advisory
# transaction lock (1 of 3, shared by all jobs) and sleep, so that jobs
# wait, queue behind the per-role limit, and can be caught running.
#
# Five client sessions (psql scripts, roles chaos_a, chaos_a, chaos_b,
# chaos_b, chaos_c) run at the same time, each a random sequence of:
#   lr    launch_v2, then result_v2 (the row: 'INSERT 0 1' or 'x');
#   sub   submit_v2 (fire and forget);
#   v1d   v1 launch + detach;
#   v2    launch_v2, detached a few operations later;
#   nest  a job (submit_v2 or launch_v2) that launches a child job with its
#         own id through pg_background_launch_v2 inside its SQL, and
#         detaches it or not, then may sleep;
#   to    launch_v2 under statement_timeout = 1-15 ms: a launch that
#         returned leaves its job in the session (detach_v2 by the handle
#         succeeds), a launch that failed left nothing in the session (the
#         directory's entry, if any, gives 55000 to detach_v2, as another
#         session's job would), so each launch is known to have returned or
#         raised;
#   cancel  cancel_v2 of one of the session's recent jobs (by its handle,
#         or, to reach v1 jobs and nested children, found in
#         pg_background_jobs by its id, unless listed with pid 0: see
#         below), queued, running or over;
#   wait  wait_v2 for one of the session's recent jobs.
# A line that uses a job's handle runs only if its launch set the psql
# variables (\if :{?h<id>_pid}).  Meanwhile, until every job is over, a
# control session terminates (pg_terminate_backend) a random
# pg_background worker that runs a job, or now and then any
# pg_background worker (parked, starting, waiting for its launch to
# return), and now and then turns the pool off and on (ALTER SYSTEM SET
# pg_background.pool_size = 0 / 4 + reload: the parked workers leave).
#
# A job listed with pid 0 (its launch has not returned yet) is not
# canceled through the list: that handle stops naming the job once its
# worker attaches, and cancel_v2 then raises 42704 (a known bug).
#
# Half the jobs run in phase 1.  Then, once the directory has settled:
# three jobs of chaos_a block on an advisory lock held by the test (running)
# and three more wait behind them in the queue; the server restarts
# (pg_ctl restart, fast mode); phase 2 runs the other half.
#
# At the end, once nothing is active or queued and no worker is busy:
#   - every job has exactly one directory entry and it is over; a job whose
#     launch raised an error has none, or one recorded 'canceled' (the
#     launch marked it canceled first: 57014, or 57P01 if the launch
#     terminated its worker) or 'error' (its worker ended it first, having
#     found the launch abandoned: 57014, or dying); a job whose launch
#     returned (and the child of a parent that committed) is not recorded
#     as abandoned;
#   - 'stopped' <=> its row is in chaos_r, exactly once; 'error',
#     'canceled', 'lost_on_restart' => no row (the SQL is one transaction);
#   - no job lost: every job whose launch returned has its entry, and so
#     has the child of every parent that ended 'stopped'; no row of chaos_r
#     without a job, none twice;
#   - a launch that raised an error ran nothing;
#   - lr: a result that came back => 'stopped'; a result that raised =>
#     not 'stopped';
#   - the restart: the running jobs ended 'error' 57P01 (terminated at
#     shutdown), the queued ones 'lost_on_restart';
#   - the directory holds exactly these entries (admission's
#     directory_used), and no pinned segment outlives its job: the
#     pg_dynshmem segment count is back to its baseline once the clients
#     are gone (after each phase), and the node's processes map no
#     /dev/shm segment;
#   - only the errors each statement may raise: 57014 for a timed-out
#     launch (and for the RESET after it, which is then repeated), 53000
#     for a launch whose worker was terminated as it started, 55000 or
#     42704 for the lookup of a failed launch (another session's job, or
#     one whose listed pid 0 is stale), 57P01 or 08006 for result_v2 of a
#     job whose worker was terminated; no client lost its connection;
#   - no crash, assertion failure or PANIC in the server log.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest qw(dsm_count dsm_back_to script_new script_add
  script_add_tlaunch script_write script_read_log);
use POSIX qw(WNOHANG);
use Time::HiRes qw(time);
use List::Util qw(sum);

my $njobs = $ENV{PGBG_CHAOS_JOBS} // 2000;
my $seed = $ENV{PGBG_CHAOS_SEED} // (int(time() * 1000) ^ $$) % 2147483647;
my $tag = "[chaos seed $seed]";
diag("chaos: $njobs jobs, seed $seed "
	  . "(PGBG_CHAOS_SEED=$seed PGBG_CHAOS_JOBS=$njobs replays the same scripts)");
srand($seed);
my $t_start = time();

my @roles = qw(chaos_a chaos_a chaos_b chaos_b chaos_c);
my $nsessions = scalar @roles;
my $max_jobs = 2 * $njobs + 1024;

my $node = PostgreSQL::Test::Cluster->new('chaos');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_background'
# Segments as files (counted in pg_dynshmem), not in the main shared memory.
pg_background.dsm_reserve = 0
max_worker_processes = 16
max_connections = 40
max_parallel_workers_per_gather = 0
dynamic_shared_memory_type = mmap
fsync = off
pg_background.pool_size = 4
pg_background.pool_idle_timeout = 3600
pg_background.max_workers_per_role = 3
pg_background.max_jobs = $max_jobs
pg_background.max_finished = 1000000
pg_background.finished_ttl = 1000000000
pg_background.max_queued = 1000000
pg_background.max_queued_per_role = -1
log_min_messages = log
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE ROLE chaos_a LOGIN;
CREATE ROLE chaos_b LOGIN;
CREATE ROLE chaos_c LOGIN;
SELECT grant_pg_background_privileges(r, false)
  FROM unnest(ARRAY['chaos_a', 'chaos_b', 'chaos_c']) r;
CREATE TABLE chaos_r (id int);   -- no unique key: a duplicate must show
GRANT SELECT, INSERT ON chaos_r TO PUBLIC;
});

# ---------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------

# Mappings of /dev/shm files by the node's processes (the postmaster and
# its children).
sub devshm_maps
{
	my $pm = $node->{_pid};
	my $n = 0;
	opendir(my $dh, '/proc') or die "opendir /proc: $!";
	for my $p (grep { /^\d+$/ } readdir($dh))
	{
		open(my $st, '<', "/proc/$p/stat") or next;
		my $stat = <$st>;
		close $st;
		next unless defined $stat && $stat =~ /\) \S+ (\d+)/;
		next unless $p == $pm || $1 == $pm;
		open(my $m, '<', "/proc/$p/maps") or next;
		$n += grep { m{ /dev/shm/} } <$m>;
		close $m;
	}
	closedir $dh;
	return $n;
}

# Wait until nothing is active or queued in the directory and no
# pg_background worker runs a job (parked ones are idle).
sub settle
{
	my ($what) = @_;
	ok( $node->poll_query_until(
			'postgres', 'SELECT active, queued FROM pg_background_admission()',
			'0|0'),
		"$what: nothing active or queued in the directory $tag");
	ok( $node->poll_query_until(
			'postgres',
			q{SELECT count(*) FROM pg_stat_activity
			  WHERE backend_type = 'pg_background' AND state <> 'idle'},
			'0'),
		"$what: no pg_background worker is busy $tag");
}

# ---------------------------------------------------------------------
# The scripts
# ---------------------------------------------------------------------

my $next_id = 0;
my %job;          # id -> { kind, session, phase, parent, child }
my @scripts;      # per session: its psql script (PgbgTest::script_new)
my %kinds;

sub add
{
	my $s = shift;
	return script_add($scripts[$s], @_);
}

# The SQL of job $id: its INSERT, then maybe a sleep or a lock and a sleep
# (the last statement returns text, for result_v2 ... AS (r text)).
sub job_sql
{
	my ($id) = @_;
	my $sql = "INSERT INTO chaos_r VALUES ($id)";
	my $r = rand();
	my $ms = 1 + int(rand(5));
	if ($r < 0.35)
	{
		$sql .= "; SELECT 'x'::text FROM pg_sleep(0.0$ms)";
	}
	elsif ($r < 0.6)
	{
		my $k = 1 + int(rand(3));
		$sql .= "; SELECT 'x'::text FROM pg_advisory_xact_lock($k), pg_sleep(0.0$ms)";
	}
	return $sql;
}

# A line that uses the handle of job $id (psql variables h<id>_pid and
# h<id>_cookie), run only if its launch set them.
sub add_guarded
{
	my ($s, $id, $line, $what) = @_;
	add($s, "\\if :{?h${id}_pid}");
	add($s, $line, $what, $id);
	add($s, '\\endif');
	return;
}

sub new_job
{
	my ($kind, $s, $phase, $parent) = @_;
	my $id = ++$next_id;
	$job{$id} = { kind => $kind, session => $s, phase => $phase };
	$job{$id}{parent} = $parent if defined $parent;
	return $id;
}

# Generate the scripts of one phase: jobs until $last_id.
sub gen_phase
{
	my ($phase, $last_id) = @_;
	my (@recent, @outstanding, @handles);
	for my $s (0 .. $nsessions - 1)
	{
		$scripts[$s] = script_new();
		$recent[$s] = [];         # ids of the session's jobs, newest last
		$outstanding[$s] = [];    # v2 handles not detached yet
		$handles[$s] = [];        # ids with a v2 handle in hID_pid/hID_cookie
	}
	while ($next_id < $last_id)
	{
		my $s = int(rand($nsessions));
		my $r = rand();
		my $kind =
		    $r < 0.14 ? 'lr'
		  : $r < 0.30 ? 'sub'
		  : $r < 0.42 ? 'v1d'
		  : $r < 0.50 ? 'v2'
		  : $r < 0.64 ? 'nest'
		  : $r < 0.80 ? 'to'
		  : $r < 0.92 ? 'cancel'
		  :             'wait';
		$kinds{$kind}++;
		if ($kind eq 'cancel')
		{
			my @own = last_of(8, $handles[$s]);
			my @any = last_of(8, $recent[$s]);
			if (@own && rand() < 0.75)
			{
				my $id = $own[ int(rand(@own)) ];
				add_guarded($s, $id, "SELECT pg_background_cancel_v2(:h${id}_pid, :h${id}_cookie);",
						'cancel');
			}
			elsif (@any)
			{
				my $id = $any[ int(rand(@any)) ];
				# pid 0: a job whose launch has not returned yet; that
				# handle stops naming it once its worker attaches (42704).
				add($s,
					"SELECT pg_background_cancel_v2(pid, cookie) FROM pg_background_jobs "
					  . "WHERE sql_preview LIKE 'INSERT INTO chaos_r VALUES ($id)%' AND pid <> 0;",
					'cancel', $id);
			}
			next;
		}
		if ($kind eq 'wait')
		{
			my @own = last_of(4, $handles[$s]);
			if (@own)
			{
				my $id = $own[ int(rand(@own)) ];
				add_guarded($s, $id, "SELECT pg_background_wait_v2(:h${id}_pid, :h${id}_cookie);",
						'wait');
			}
			next;
		}

		my $id = new_job($kind, $s, $phase);
		push @{ $recent[$s] }, $id;
		my $sql = job_sql($id);
		if ($kind eq 'lr')
		{
			add($s, "SELECT pid, cookie FROM pg_background_launch_v2(\$j\$$sql\$j\$) \\gset h${id}_",
				'launch', $id);
			add_guarded($s, $id, "SELECT 'R:$id:' || r FROM pg_background_result_v2(:h${id}_pid, :h${id}_cookie) AS x(r text);",
					'result');
		}
		elsif ($kind eq 'sub')
		{
			add($s, "SELECT pid, cookie FROM pg_background_submit_v2(\$j\$$sql\$j\$) \\gset h${id}_",
				'launch', $id);
			push @{ $handles[$s] }, $id;
			push @{ $outstanding[$s] }, $id;
		}
		elsif ($kind eq 'v1d')
		{
			add($s, "SELECT pg_background_detach(pg_background_launch(\$j\$$sql\$j\$));",
				'launch', $id);
		}
		elsif ($kind eq 'v2')
		{
			add($s, "SELECT pid, cookie FROM pg_background_launch_v2(\$j\$$sql\$j\$) \\gset h${id}_",
				'launch', $id);
			push @{ $handles[$s] }, $id;
			push @{ $outstanding[$s] }, $id;
		}
		elsif ($kind eq 'nest')
		{
			my $cid = new_job('child', $s, $phase, $id);
			$job{$id}{child} = $cid;
			push @{ $recent[$s] }, $cid;
			my $csql = job_sql($cid);
			my $detach = rand() < 0.5;
			my $psql = "INSERT INTO chaos_r VALUES ($id); SELECT "
			  . ($detach ? 'pg_background_detach_v2(h.pid, h.cookie)::text' : 'h.pid::text')
			  . " FROM pg_background_launch_v2(\$c\$$csql\$c\$) h";
			$psql .= '; SELECT pg_sleep(0.0' . (1 + int(rand(5))) . ')'
			  if rand() < 0.5;
			my $how = rand() < 0.5 ? 'submit' : 'launch';
			$job{$id}{nest} = ($detach ? 'detach' : 'keep') . "/$how";
			add($s, "SELECT pid, cookie FROM pg_background_${how}_v2(\$j\$$psql\$j\$) \\gset h${id}_",
				'launch', $id);
			push @{ $handles[$s] }, $id;
			push @{ $outstanding[$s] }, $id;
		}
		elsif ($kind eq 'to')
		{
			script_add_tlaunch($scripts[$s], $id, $sql, 1 + int(rand(15)),
				"LIKE 'INSERT INTO chaos_r VALUES ($id)%'");
		}

		# Detach the oldest outstanding handles (a few stay attached).
		while (@{ $outstanding[$s] } > int(rand(6)))
		{
			my $d = shift @{ $outstanding[$s] };
			add_guarded($s, $d, "SELECT pg_background_detach_v2(:h${d}_pid, :h${d}_cookie);",
					'detach');
		}
	}
	for my $s (0 .. $nsessions - 1)
	{
		for my $d (@{ $outstanding[$s] })
		{
			add_guarded($s, $d, "SELECT pg_background_detach_v2(:h${d}_pid, :h${d}_cookie);",
					'detach');
		}
	}
	return;
}

sub min { return $_[0] < $_[1] ? $_[0] : $_[1]; }

# The last $n elements of @$list (fewer if it is shorter).
sub last_of
{
	my ($n, $list) = @_;
	return @$list[ (@$list > $n ? @$list - $n : 0) .. $#$list ];
}

# The timeout launches' outcomes: id -> 'returned' / 'returned_late' (the
# launch returned, its statement failed afterwards) / 'failed'.
my %tlaunch;
my %results;      # lr: id -> the row that came back
my %launch_err;   # id -> SQLSTATE: its launch (no timeout) raised
my %result_err;   # lr: id -> SQLSTATE: its result_v2 raised
my $abandoned =
  'the job did not run: its launch failed before the worker started it';
my %errors_by;    # "what/SQLSTATE" -> count
my $unexpected = 0;

# Errors each kind of line may raise.
my %allowed = (
	tlaunch => { '57014' => 1, '53000' => 1 },
	launch => { '53000' => 1 },
	# The launch failed: its entry (if any) is another session's job for
	# detach_v2 (55000), or no longer has the handle the list showed (42704:
	# pid 0 while its launch was under way, and its worker attached since).
	lookup => { '55000' => 1, '42704' => 1 },
	reset => { '57014' => 1 },
	# The job's worker was terminated: its FATAL, or (a parked worker
	# terminated as it took the job) no word at all.
	result => { '57P01' => 1, '08006' => 1 },
);

# Run the scripts of a phase from $nsessions psql processes while the
# control session terminates workers and toggles the pool; then read what
# they printed.
sub run_phase
{
	my ($phase) = @_;
	my $dir = $node->basedir;
	my @procs;
	my $t0 = time();
	for my $s (0 .. $nsessions - 1)
	{
		my $f = "$dir/p${phase}_s$s";
		script_write($scripts[$s], "$f.sql");
		my @cmd = (
			$node->installed_command('psql'), '-XAtq', '-d', 'postgres',
			'-U', $roles[$s], '-h', $node->host, '-p', $node->port,
			'-v', 'ON_ERROR_STOP=0', '-v', 'VERBOSITY=verbose',
			'-f', "$f.sql");
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

	# The control session, until every client is done and every job is
	# over.
	my $ctl = $node->background_psql('postgres');
	# (pg_terminate_backend warns if the worker has exited since.)
	$ctl->query_safe('SET client_min_messages = error');
	my ($terminated, $terminated_any, $toggles) = (0, 0, 0);
	my $pool_on = 1;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default + $njobs;
	my $running = scalar @procs;
	my $t_clients;
	for (;;)
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
		$t_clients //= time() - $t0 if $running == 0;
		last
		  if $running == 0
		  && $ctl->query_safe(
			'SELECT active + queued FROM pg_background_admission()') eq '0';
		if (time() > $deadline)
		{
			kill 'TERM', map { $_->{pid} } grep { !defined $_->{status} } @procs;
			fail("phase $phase: the clients did not finish in time $tag");
			last;
		}
		my $r = rand();
		if ($r < 0.5)
		{
			# A worker running a job.
			$terminated += $ctl->query_safe(q{
SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM (
  SELECT pid FROM pg_stat_activity
  WHERE backend_type = 'pg_background' AND state = 'active'
    AND query LIKE 'INSERT INTO chaos_r%'
  ORDER BY random() LIMIT 1) s});
		}
		elsif ($r < 0.6)
		{
			# Any worker: parked, starting, waiting for its launch to
			# return, or running.
			$terminated_any += $ctl->query_safe(q{
SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM (
  SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_background'
  ORDER BY random() LIMIT 1) s});
		}
		elsif ($r < 0.7)
		{
			$pool_on = !$pool_on;
			$ctl->query_safe('ALTER SYSTEM SET pg_background.pool_size = '
				  . ($pool_on ? 4 : 0));
			$ctl->query_safe('SELECT pg_reload_conf()');
			$toggles++;
		}
		# Pacing of the chaos, not a wait for a worker.
		select(undef, undef, undef, 0.01 + rand(0.06));
	}
	for my $p (@procs)
	{
		waitpid($p->{pid}, 0) unless defined $p->{status};
	}
	if (!$pool_on)
	{
		$ctl->query_safe('ALTER SYSTEM SET pg_background.pool_size = 4');
		$ctl->query_safe('SELECT pg_reload_conf()');
	}
	$ctl->quit;
	my $elapsed = time() - $t0;
	diag(sprintf('phase %d: %d client statements in %.1f s, every job over after %.1f s; terminated %d workers running a job and %d of any kind; pool toggled %d times %s',
			$phase, sum(map { scalar @{ $scripts[$_]{lines} } } 0 .. $nsessions - 1),
			$t_clients // -1, $elapsed, $terminated, $terminated_any, $toggles, $tag));

	for my $p (@procs)
	{
		my ($s, $f) = ($p->{s}, $p->{file});
		is($p->{status} // -1, 0, "phase $phase session $s: psql exited normally $tag");
		my $r = script_read_log($scripts[$s], $f, \%allowed,
			"phase $phase session $s $tag");
		$unexpected += $r->{unexpected};
		$errors_by{"$_->[0]/$_->[1]"}++ for @{ $r->{errors} };
		%launch_err = (%launch_err, %{ $r->{launch_err} });
		%result_err = (%result_err, %{ $r->{result_err} });
		%results = (%results, %{ $r->{results} });
		%tlaunch = (%tlaunch, %{ $r->{tlaunch} });
	}
	return;
}

# ---------------------------------------------------------------------
# Phase 1, the restart, phase 2
# ---------------------------------------------------------------------
my $baseline1 = dsm_count($node);
my $shm_baseline = devshm_maps();
note("DSM segments at the start: $baseline1; /dev/shm mappings: $shm_baseline");

gen_phase(1, int($njobs / 2));
run_phase(1);
settle('phase 1');
dsm_back_to($node, $baseline1, "phase 1 $tag");

# Three jobs of chaos_a running (blocked on a lock), three queued.
my $locker = $node->background_psql('postgres');
$locker->query_safe('SELECT pg_advisory_lock(777)');
my %bait;
my $bs = $node->background_psql('postgres');
$bs->query_safe('SET ROLE chaos_a');
for my $k (1 .. 6)
{
	my $id = new_job('bait', -1, 1);
	$bait{$id} = 1;
	$bs->query_safe("SELECT pg_background_detach_v2(pid, cookie) FROM pg_background_submit_v2("
		  . "'INSERT INTO chaos_r VALUES ($id); SELECT pg_advisory_xact_lock(777)')");
}
ok( $node->poll_query_until(
		'postgres', 'SELECT active, queued FROM pg_background_admission()', '3|3'),
	"before the restart: 3 jobs active, 3 queued $tag");
ok( $node->poll_query_until(
		'postgres', q{
SELECT count(*) FROM pg_stat_activity
WHERE backend_type = 'pg_background' AND wait_event = 'advisory'},
		'3'),
	"before the restart: the 3 active jobs wait for the lock $tag");
my %bait_before = map { split /\|/ } split /\n/, $node->safe_psql('postgres', q{
SELECT substring(sql_preview FROM '\((\d+)\)'), state FROM pg_background_jobs
WHERE sql_preview LIKE '%pg_advisory_xact_lock(777)'});
note('before the restart: ' . join(', ', map { "$_=$bait_before{$_}" } sort keys %bait_before));

# (pg_ctl restart stops the server in fast mode.)
$node->restart;
$bs->quit;
$locker->quit;
my $baseline2 = dsm_count($node);
note("DSM segments after the restart: $baseline2");

gen_phase(2, $njobs);
run_phase(2);
settle('phase 2');
dsm_back_to($node, $baseline2, "the end $tag");
is(devshm_maps(), $shm_baseline,
	"the node's processes map no more /dev/shm segments than at the start $tag");

note('operation mix: ' . join(', ', map { "$_=$kinds{$_}" } sort keys %kinds));
note('client errors: ' . join(', ', map { "$_=$errors_by{$_}" } sort keys %errors_by));
is($unexpected, 0, "no unexpected client error, no lost connection $tag");

# ---------------------------------------------------------------------
# What the directory recorded, against what the jobs did
# ---------------------------------------------------------------------
my (%rec, %rows);
my $nrec = 0;
my $stray = 0;
for my $l (split /\n/, $node->safe_psql('postgres', q{
SELECT coalesce(substring(sql_preview FROM '^INSERT INTO chaos_r VALUES \((\d+)\)'), '?'),
       state, coalesce(sqlstate, ''), coalesce(last_error, '')
FROM pg_background_jobs}))
{
	my ($id, $state, $sqlstate, $msg) = split /\|/, $l, 4;
	$nrec++;
	if ($id eq '?' || !$job{$id})
	{
		$stray++;
		diag("a directory entry of no job of the test: $l $tag");
		next;
	}
	push @{ $rec{$id} }, { state => $state, sqlstate => $sqlstate, msg => $msg };
}
for my $l (split /\n/, $node->safe_psql('postgres',
		'SELECT id, count(*) FROM chaos_r GROUP BY id'))
{
	my ($id, $n) = split /\|/, $l;
	$rows{$id} = $n;
}
is($stray, 0, "every directory entry is a job of the test $tag");
is($node->safe_psql('postgres', 'SELECT directory_used FROM pg_background_admission()'),
	$nrec, "the directory holds exactly the entries listed ($nrec) $tag");

my %states;
my %failed_launch;
my @bad;
my $check = sub { push @bad, "job $_[0] ($job{$_[0]}{kind}): $_[1]" };
for my $id (sort { $a <=> $b } keys %job)
{
	my $j = $job{$id};
	my $recs = $rec{$id} // [];
	my $rows = $rows{$id} // 0;
	if (@$recs > 1)
	{
		$check->($id, scalar(@$recs) . ' directory entries: '
			  . join(', ', map { $_->{state} } @$recs));
		next;
	}
	$check->($id, "its row is there $rows times") if $rows > 1;
	my $launch_failed = ($j->{kind} eq 'to' && $tlaunch{$id} eq 'failed')
	  || defined $launch_err{$id};
	if (!@$recs)
	{
		$states{'(none)'}++;
		# A launch that raised may leave no entry; a child has none if its
		# parent never launched it (the parent then did not commit).
		my $parent_ok =
		  $j->{kind} eq 'child' && !grep { $_->{state} eq 'stopped' }
		  @{ $rec{ $j->{parent} } // [] };
		$check->($id, 'no directory entry (lost)')
		  unless $launch_failed || $parent_ok;
		$check->($id, "no directory entry, but its row is there") if $rows;
		next;
	}
	my $r = $recs->[0];
	$states{ $r->{state} . ($r->{sqlstate} ne '' ? "/$r->{sqlstate}" : '') }++;
	my $desc = "$r->{state} $r->{sqlstate} $r->{msg}";
	if ($r->{state} eq 'stopped')
	{
		$check->($id, "'stopped' but no row") unless $rows == 1;
	}
	elsif ($r->{state} =~ /^(error|canceled|lost_on_restart)$/)
	{
		$check->($id, "$desc, but its row is there") if $rows;
	}
	else
	{
		$check->($id, "not over at the end: $desc");
	}
	if ($launch_failed)
	{
		# 'canceled' if the launch marked the job canceled before it ended,
		# 'error' if its worker, finding the launch abandoned (57014), or
		# dying, ended it first: either way it ran nothing.
		$failed_launch{"$r->{state}/$r->{sqlstate}"}++;
		$check->($id, "its launch failed, but its row is there") if $rows;
		$check->($id, "its launch failed, recorded as $desc")
		  unless $r->{state} eq 'canceled' || $r->{state} eq 'error';
	}
	# A launch that returned was not abandoned (nor was the launch of the
	# child of a parent that committed).
	my $returned = !$launch_failed && $j->{kind} ne 'child' && $j->{kind} ne 'bait';
	$returned ||= $j->{kind} eq 'child'
	  && grep { $_->{state} eq 'stopped' } @{ $rec{ $j->{parent} } // [] };
	$check->($id, "its launch returned, recorded as $desc")
	  if $returned && $r->{msg} eq $abandoned;
	if ($j->{kind} eq 'lr' && defined $result_err{$id})
	{
		$check->($id, "its result raised $result_err{$id}, recorded as $desc")
		  if $r->{state} eq 'stopped';
	}
	if ($j->{kind} eq 'lr' && defined $results{$id})
	{
		$check->($id, "its result came back ('$results{$id}'), recorded as $desc")
		  unless $r->{state} eq 'stopped';
	}
	if ($bait{$id})
	{
		# Running: terminated at shutdown; queued: lost.
		my ($state, $sqlstate) = ($bait_before{$id} // '') eq 'running'
		  ? ('error', '57P01') : ('lost_on_restart', '');
		$check->($id, "was $bait_before{$id} at the restart, recorded as $desc")
		  unless $r->{state} eq $state && $r->{sqlstate} eq $sqlstate;
	}
	if ($j->{kind} eq 'nest' && $r->{state} eq 'stopped')
	{
		$check->($id, "'stopped' but its child $j->{child} has no entry")
		  unless $rec{ $j->{child} };
	}
}
for my $id (sort { $a <=> $b } keys %rows)
{
	push @bad, "row $id of chaos_r belongs to no job" unless $job{$id};
}
diag("recorded states: " . join(', ', map { "$_=$states{$_}" } sort keys %states)
	  . '; timeout launches: '
	  . join(', ', map { my $k = $_; "$k=" . scalar(grep { $tlaunch{$_} eq $k } keys %tlaunch) }
		  qw(returned returned_late failed))
	  . '; records of the failed launches: '
	  . join(', ', map { "$_=$failed_launch{$_}" } sort keys %failed_launch));
diag($_ . " $tag") for @bad[0 .. min(scalar(@bad), 40) - 1];
is(scalar(@bad), 0,
	'every job ended in exactly one recorded state that matches its effect, none lost '
	  . $tag);
is(scalar(keys %job), $next_id, "$next_id jobs $tag");

my $log = slurp_file($node->logfile);
my @crash = $log =~ /^.*(?:TRAP:|PANIC:|terminated by signal|was terminated|exited with exit code [^01]|terminating any other active server processes).*$/mg;
diag($_) for @crash[0 .. min(scalar(@crash), 10) - 1];
is(scalar(@crash), 0, "no crash, assertion failure or PANIC in the server log $tag");

$node->stop;
diag(sprintf('chaos: %d jobs, seed %d, %.1f s in all', $next_id, $seed, time() - $t_start));
done_testing();
