# Fuzz: every SQL-callable function of the extension with random arguments.
#
# PGBG_FUZZ_COUNT calls (default 3000), drawn by a seeded PRNG
# (PGBG_FUZZ_SEED, printed: the same seed replays the same script), one
# statement each, run by one psql session with ON_ERROR_STOP off:
# launch (with and without VARIADIC parameters of assorted types), result,
# detach, launch_v2, submit_v2, result_v2, detach_v2, cancel_v2,
# cancel_v2_grace, cancel_label, wait_v2, wait_v2_timeout, wait_any,
# list_v2, list, the pg_background_jobs view, stats_v2, progress,
# get_progress_v2, outcome, grant/revoke_pg_background_privileges.
# Arguments: PIDs that are random, negative, zero, INT4 bounds, real PIDs of
# other backends (the postmaster, another session, another session's
# worker) and of this session's own workers; cookies that are random, 0,
# -1, INT8 bounds, real ones; queue sizes that are random, 63/64/65,
# negative, 2^31-1; grace periods and timeouts; NULL anywhere; 1 MB SQL
# strings, 10 MB labels, random valid UTF-8 text (SQL, labels, progress
# messages, role names); right and wrong column definition lists and call
# forms; transaction blocks around calls (some with a type created in the
# transaction as a parameter type); and job SQL that returns rows, fails,
# sleeps briefly, publishes progress, launches nested jobs, uses COPY, leaves
# a transaction open, terminates itself, and so on.
#
# Afterwards: psql did not lose its connection; the server is alive and
# never restarted (pg_postmaster_start_time unchanged); the log has no
# "terminated by signal" and no PANIC; every error, in psql's output and in
# the server log (where the workers' own errors are), has an expected
# SQLSTATE (classes 22, 23, 25, 2D, 3B, 40, 42, 53, 54, 55, 57, 0A, P0,
# plus 08006 and the jobs' custom AB123; 25 and 3B come from the script's
# own transaction blocks).  Anything else, such as XX000 (internal
# error), XX001 or 08P01 (protocol violation), is listed and fails the test.
# Finally, every text the extension returned about the jobs (outcome,
# progress, job list) is valid in the database encoding, including for jobs
# whose error or progress message is longer than the space kept for it.
use strict;
use warnings;
use utf8;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Math::BigInt;

my $count = $ENV{PGBG_FUZZ_COUNT} // 3000;
my $seed = $ENV{PGBG_FUZZ_SEED} // int(rand(2**31));
diag("fuzz: $count calls, seed $seed (set PGBG_FUZZ_SEED to replay)");
srand($seed);

my $node = PostgreSQL::Test::Cluster->new('fuzz');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf('postgresql.conf', qq{
max_worker_processes = 24
max_parallel_workers = 0
max_parallel_workers_per_gather = 0
log_statement = none
log_error_verbosity = verbose
log_min_error_statement = panic
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE TABLE fuzz_t (k int);
CREATE DOMAIN fuzz_posint AS int CHECK (VALUE > 0);
CREATE TYPE fuzz_enum AS ENUM ('a', 'b');
CREATE ROLE regress_fuzz_role;
});
my $start_time = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

# Real PIDs that are not this session's jobs: the postmaster, another
# session, and another session's worker (blocked on a lock held here).
my $postmaster_pid = (split /\n/, slurp_file($node->data_dir . '/postmaster.pid'))[0];
my $locker = $node->background_psql('postgres');
my $locker_pid = $locker->query_safe('SELECT pg_backend_pid()');
$locker->query_safe('SELECT pg_advisory_lock(777)');
my $other = $node->background_psql('postgres');
my $other_pid = $other->query_safe('SELECT pg_backend_pid()');
my ($other_job_pid, $other_job_cookie) = split /\|/,
  $other->query_safe(q{SELECT * FROM pg_background_launch_v2('SELECT 1 FROM pg_advisory_xact_lock(777)')});

# ---------------------------------------------------------------------------
# Random values.
# ---------------------------------------------------------------------------
sub pick { return $_[ int(rand(@_)) ]; }
sub chance { return rand() < $_[0]; }

# Random valid UTF-8 text (no NUL; no newline, so one statement per line).
sub rand_text
{
	my ($maxlen) = @_;
	my $len = int(rand($maxlen + 1));
	my $s = '';
	for (1 .. $len)
	{
		my $r = rand();
		my $cp;
		if ($r < 0.5) { $cp = 32 + int(rand(95)); }
		elsif ($r < 0.55) { $cp = ord(pick(q{'}, '"', '\\', '$', ';', ':', '%', '(', ')')); }
		elsif ($r < 0.6) { $cp = pick(1 .. 9, 11, 12, 14 .. 31, 127); }
		elsif ($r < 0.75) { $cp = 0x80 + int(rand(0x780)); }
		elsif ($r < 0.9) { $cp = 0x800 + int(rand(0xD000 - 0x800)); }
		elsif ($r < 0.95) { $cp = 0xE000 + int(rand(0x10000 - 0xE000)); }
		else { $cp = 0x10000 + int(rand(0x100000)); }
		$s .= chr($cp);
	}
	return $s;
}

sub lit
{
	my ($s) = @_;
	return 'NULL' unless defined $s;
	$s =~ s/'/''/g;
	return "'$s'";
}

sub rand_int32 { return int(rand(2**32)) - 2**31; }

sub rand_int64
{
	my $hi = int(rand(2**32)) - 2**31;
	my $lo = int(rand(2**32));
	return Math::BigInt->new($hi)->blsft(32)->badd($lo)->bstr;
}
sub arg_pid
{
	my $r = rand();
	return ':j_pid' if $r < 0.35;
	return ':v1_pid' if $r < 0.5;
	return 'NULL' if $r < 0.55;
	return pick($postmaster_pid, $locker_pid, $other_pid, $other_job_pid,
		'pg_backend_pid()')
	  if $r < 0.65;
	return pick(0, -1, 1, 2147483647, -2147483648, 32768, 4194304) if $r < 0.8;
	return rand_int32();
}

sub arg_cookie
{
	my $r = rand();
	return ':j_cookie' if $r < 0.4;
	return ':v1_cookie' if $r < 0.5;
	return 'NULL' if $r < 0.55;
	return $other_job_cookie if $r < 0.6;
	return pick(0, -1, 1, '9223372036854775807', '(-9223372036854775807 - 1)')
	  if $r < 0.8;
	return rand_int64();
}

sub arg_queue_size
{
	my $r = rand();
	return 65536 if $r < 0.3;
	return 64 + int(rand(100000)) if $r < 0.5;
	return 'NULL' if $r < 0.55;
	return pick(63, 64, 65, 0, -1, 2147483647, -2147483648, 1073741825, 16)
	  if $r < 0.8;
	return rand_int32();
}

sub arg_ms
{
	my ($allow_long) = @_;
	my $r = rand();
	return 'NULL' if $r < 0.05;
	return pick(-1, -2, -2147483648) if $r < 0.2;
	return 2147483647 if $r < 0.25 && $allow_long;
	return pick(0, 1, 10, 50, 200) if $r < 0.8;
	return int(rand(300));
}

sub arg_label
{
	my $r = rand();
	return 'NULL' if $r < 0.3;
	return q{'fuzz'} if $r < 0.55;
	return q{''} if $r < 0.6;
	return q{repeat('L', 10485760)} if $r < 0.605;
	return lit(rand_text(40));
}

sub arg_bool { return pick('true', 'false', 'NULL'); }

sub arg_role
{
	return pick('NULL', q{'regress_fuzz_role'}, q{'postgres'}, q{'public'},
		q{'regress_no_such_role'}, q{'"; DROP TABLE fuzz_t; --'},
		q{'regress_fuzz_role; DROP TABLE fuzz_t'}, lit(rand_text(20)));
}

# SQL a job runs (each finishes quickly on its own).
sub job_sql
{
	my $r = rand();
	return lit('SELECT 1') if $r < 0.1;
	return lit('SELECT g FROM generate_series(1, ' . int(rand(20000)) . ') g') if $r < 0.2;
	return lit('SELECT 1/0') if $r < 0.25;
	return lit('SELECT pg_sleep(0.0' . int(rand(5)) . ')') if $r < 0.3;
	return lit('INSERT INTO fuzz_t VALUES (1)') if $r < 0.35;
	return lit('SELECT pg_background_progress(' . (int(rand(110)) - 5) . ', ' . lit(rand_text(300)) . ')')
	  if $r < 0.42;
	return lit(rand_text(60)) if $r < 0.52;
	return lit(pick(
			'COPY (SELECT 1) TO STDOUT', 'COPY fuzz_t FROM STDIN', 'BEGIN',
			'BEGIN; SELECT 1; COMMIT', 'VACUUM fuzz_t', 'SELECT 1; VACUUM fuzz_t',
			'SET ROLE regress_no_such_role', '', ';;;', 'LISTEN fuzz; NOTIFY fuzz',
			'SELECT pg_terminate_backend(pg_backend_pid())',
			q{DO $d$BEGIN FOR i IN 1..50 LOOP RAISE NOTICE 'n %', i; END LOOP; END$d$},
			q{DO $d$BEGIN RAISE EXCEPTION USING ERRCODE = 'AB123', MESSAGE = repeat('é', 400), DETAIL = repeat('ü', 300), HINT = repeat('ö', 200); END$d$},
			'SELECT * FROM pg_background_result(pg_background_launch($n$SELECT 7$n$)) AS (x int)',
			'SELECT pg_background_launch($n$SELECT pg_sleep(0.01)$n$)',
			'SELECT pg_background_progress(50), pg_background_list_v2 IS NULL FROM (SELECT 1) s, LATERAL (SELECT count(*) AS pg_background_list_v2 FROM pg_background_list()) l',
			'SET statement_timeout = 10; SELECT pg_sleep(1)',
			'SELECT ROW(1, 2)', q{SELECT '{"a":1}'::jsonb}, 'SELECT ARRAY[1,2,NULL]',
			q{SELECT 'a'::fuzz_enum}, 'SELECT -1::fuzz_posint', 'SELECT $1', 'SELECT $1, $2',
			'SELECT NULL', q{SELECT repeat('é', 100000)}, 'SELECT 1 UNION ALL SELECT 2',
			'SELECT 1 AS a, 2 AS b',
		))
	  if $r < 0.8;
	return pick(
		q{'SELECT ''' || repeat('x', 1048576) || ''''},
		q{'/*' || repeat('x', 1048576) || '*/ SELECT 1'},
		q{'SELECT ' || repeat('1+', 524288) || '1'},
		q{'SELECT 1' || repeat(' ', 1048576)},
		'NULL');
}

my @coldefs = (
	'(x int)', '(x int)', '(x text)', '(x text)', '(g int)', '(x int8)',
	'(a int, b int)', '(a int, b text)', '(x bytea)', '(x fuzz_posint)',
	'(x varchar(2))', '(x char(1))', '(x name)', '(x jsonb)', '(x int[])',
	'(x pg_background_handle)', '(x record)', '(x fuzz_enum)', '(x "char")',
	'(x void)', '(x numeric(2,1))', '(x bool)', '(x float8)', '(x timestamptz)',
	'(x regclass)', '(x json)', '(x uuid)', '(x oid)');

my @list_v2_coldefs = (
	'(pid int4, cookie int8, launched_at timestamptz, user_id oid, queue_size int4, state text, sql_preview text, last_error text, consumed bool)',
	'(pid int4, cookie int8, launched_at timestamptz, user_id oid, queue_size int4, state text, sql_preview text, last_error text, consumed bool)',
	'(pid int4, cookie int8)', '(pid int8, cookie int8, launched_at timestamptz, user_id oid, queue_size int4, state text, sql_preview text, last_error text, consumed bool)',
	'(a int4, b int8, c timestamptz, d oid, e int4, f text, g text, h text, i text)',
	'(x text)');

# VARIADIC parameters of assorted types.
sub params
{
	my $r = rand();
	return '' if $r < 0.4;
	my @p;
	for (1 .. 1 + int(rand(3)))
	{
		push @p, pick(
			int(rand(1000)), 'NULL', lit(rand_text(20)), q{'abc'::text},
			q{'{"k": [1, 2]}'::jsonb}, 'ARRAY[1, 2, 3]', q{'\x00ff'::bytea},
			'now()', '1.5::numeric', q{'a'::fuzz_enum}, '5::fuzz_posint',
			'ROW(1, 2)', q{'x'::"char"}, q{'abc'::cstring}, 'NULL::void',
			q{'(0,1)'::tid}, q{'fuzz_t'::regclass}, 'true',
			q{ROW(1, 2)::pg_background_handle}, q{repeat('p', 1048576)},
			q{$$'); DROP TABLE fuzz_t; --$$});
	}
	if ($r < 0.5)
	{
		return ', ' . pick('VARIADIC ARRAY[1, 2, 3]', 'VARIADIC NULL::int[]',
			q{VARIADIC '{}'::text[]}, 'VARIADIC array_fill(1, ARRAY[1000])',
			q{VARIADIC '{{1,2},{3,4}}'::int[]}, q{VARIADIC ARRAY['a', NULL]});
	}
	return ', ' . join(', ', @p);
}

sub handle_array
{
	my $r = rand();
	return 'NULL' if $r < 0.05;
	return q{'{}'} if $r < 0.1;
	return 'ARRAY[NULL]::pg_background_handle[]' if $r < 0.15;
	my @h;
	for (1 .. 1 + int(rand(4)))
	{
		push @h, 'ROW(' . arg_pid() . ', ' . arg_cookie() . ')';
	}
	return 'ARRAY[' . join(', ', @h) . ']::pg_background_handle[]';
}

# One call; returns one or more lines.
my $txtype = 0;
sub call
{
	my $r = int(rand(26));
	if ($r == 0)
	{
		my $qs = chance(0.3) ? arg_queue_size() : 65536;
		return 'SELECT pg_background_launch(' . job_sql() . (chance(0.5) ? '' : ", $qs" . params()) . ') AS v1_pid \gset',
		  'SELECT cookie AS v1_cookie FROM pg_background_list() WHERE pid = :v1_pid \gset';
	}
	if ($r == 1 || $r == 2)
	{
		my $qs = chance(0.3) ? arg_queue_size() : 65536;
		my $f = pick('launch_v2', 'launch_v2', 'submit_v2');
		my $args = job_sql();
		$args .= ", $qs" if chance(0.7);
		$args .= ', ' . arg_label() . params() if chance(0.5);
		return "SELECT * FROM pg_background_$f($args) \\gset j_";
	}
	if ($r == 3)
	{
		my $form = rand();
		return 'SELECT pg_background_result(' . arg_pid() . ')' if $form < 0.1;
		return 'SELECT * FROM pg_background_result(' . arg_pid() . ') AS ' . pick(@coldefs);
	}
	if ($r == 4)
	{
		my $form = rand();
		return 'SELECT pg_background_result_v2(' . arg_pid() . ', ' . arg_cookie() . ')' if $form < 0.1;
		return 'SELECT * FROM pg_background_result_v2(' . arg_pid() . ', ' . arg_cookie() . ') AS ' . pick(@coldefs);
	}
	return 'SELECT pg_background_detach(' . arg_pid() . ')' if $r == 5;
	return 'SELECT pg_background_detach_v2(' . arg_pid() . ', ' . arg_cookie() . ')' if $r == 6;
	return 'SELECT pg_background_cancel_v2(' . arg_pid() . ', ' . arg_cookie() . ')' if $r == 7;
	return 'SELECT pg_background_cancel_v2_grace(' . arg_pid() . ', ' . arg_cookie() . ', ' . arg_ms(1) . ')'
	  if $r == 8;
	return 'SELECT pg_background_cancel_label(' . arg_label() . (chance(0.5) ? '' : ', ' . arg_ms(0)) . ')'
	  if $r == 9;
	return 'SELECT pg_background_wait_v2(' . arg_pid() . ', ' . arg_cookie() . ')' if $r == 10;
	return 'SELECT pg_background_wait_v2_timeout(' . arg_pid() . ', ' . arg_cookie() . ', ' . arg_ms(1) . ')'
	  if $r == 11;
	return 'SELECT * FROM pg_background_wait_any(' . handle_array() . (chance(0.5) ? '' : ', ' . arg_ms(1)) . ')'
	  if $r == 12;
	return 'SELECT * FROM pg_background_list_v2() AS ' . pick(@list_v2_coldefs) if $r == 13;
	return pick('SELECT pg_background_list_v2()',
		'SELECT count(*), sum(length(label)), count(DISTINCT state) FROM pg_background_list()',
		'SELECT pid, state, length(label), sqlstate, consumed, submitted, progress_pct, row_count FROM pg_background_jobs',
		'SELECT * FROM pg_background_list() AS (a int)',
		'SELECT count(pg_background_list())')
	  if $r == 14;
	return pick('SELECT * FROM pg_background_stats_v2()', 'SELECT pg_background_stats_v2()')
	  if $r == 15;
	return 'SELECT pg_background_progress(' . pick('NULL', -1, 0, 50, 100, 101, rand_int32()) . (chance(0.5) ? '' : ', ' . lit(rand_text(300))) . ')'
	  if $r == 16;
	return 'SELECT * FROM pg_background_get_progress_v2(' . arg_pid() . ', ' . arg_cookie() . ')'
	  if $r == 17;
	return 'SELECT * FROM pg_background_outcome(' . arg_pid() . ', ' . arg_cookie() . ')'
	  if $r == 18;
	return 'SELECT ' . pick('grant', 'revoke') . '_pg_background_privileges(' . arg_role() . (chance(0.5) ? '' : ', ' . arg_bool()) . ')'
	  if $r == 19;
	if ($r == 20)
	{
		# A transaction block around a few calls; sometimes a parameter
		# whose type exists only in this transaction.
		my @l = ('BEGIN;');
		if (chance(0.2))
		{
			$txtype++;
			push @l, "CREATE TYPE fuzz_tx_$txtype AS ENUM ('a');";
			push @l, "SELECT * FROM pg_background_launch_v2('SELECT \$1::text', 65536, NULL, 'a'::fuzz_tx_$txtype) \\gset j_";
		}
		push @l, call() for 1 .. int(rand(4));
		push @l, pick('COMMIT;', 'ROLLBACK;', 'SAVEPOINT s; SELECT 1/0; ROLLBACK TO SAVEPOINT s; COMMIT;');
		return @l;
	}
	if ($r == 21)
	{
		# Calls with the wrong number or type of arguments.
		return pick(
			'SELECT pg_background_launch()', 'SELECT pg_background_launch(1)',
			q{SELECT pg_background_launch('SELECT 1', 'x')},
			'SELECT pg_background_result_v2(1)', q{SELECT pg_background_wait_any(ARRAY[1,2])},
			q{SELECT pg_background_detach('x')}, q{SELECT pg_background_outcome(1, 2, 3)},
			'SELECT pg_background_launch(NULL, NULL, NULL)',
			'SELECT pg_background_launch_v2(NULL, NULL, NULL, NULL)',
			'SELECT pg_background_submit_v2(NULL)',
			q{SELECT pg_background_cancel_label(NULL, NULL)});
	}
	if ($r == 22)
	{
		# The function's own handles, read back through the other API.
		return pick(
			'SELECT * FROM pg_background_result(:j_pid) AS ' . pick(@coldefs),
			'SELECT * FROM pg_background_result_v2(:v1_pid, :v1_cookie) AS ' . pick(@coldefs),
			'SELECT pg_background_detach(:j_pid)',
			'SELECT pg_background_wait_v2(:v1_pid, :v1_cookie)',
			'SELECT * FROM pg_background_outcome(:v1_pid, :v1_cookie)',
			'SELECT pg_background_cancel_v2_grace(:v1_pid, :v1_cookie, 0)');
	}
	if ($r == 23)
	{
		# Read a job right after launching it.
		return 'SELECT * FROM pg_background_launch_v2(' . job_sql() . ') \gset j_',
		  pick('SELECT pg_background_wait_v2(:j_pid, :j_cookie)', 'SELECT 1'),
		  'SELECT * FROM pg_background_result_v2(:j_pid, :j_cookie) AS ' . pick(@coldefs);
	}
	if ($r == 24)
	{
		return 'SELECT * FROM pg_background_launch_v2(' . job_sql() . ', ' . arg_queue_size() . ', ' . arg_label() . ') \gset j_',
		  'SELECT pg_background_cancel_v2_grace(:j_pid, :j_cookie, ' . arg_ms(0) . ')',
		  'SELECT * FROM pg_background_outcome(:j_pid, :j_cookie)';
	}
	# Forget every job of the session now and then, so that jobs blocked on
	# a full queue do not pile up.
	return 'SELECT count(*) FROM (SELECT pg_background_detach_v2(pid, cookie) FROM pg_background_list()) s';
}

my @script = ('\set j_pid 0', '\set j_cookie 0', '\set v1_pid 0', '\set v1_cookie 0');
for my $i (1 .. $count)
{
	push @script, map { /;\s*$|\\gset/ ? $_ : "$_;" } call();
	push @script, 'SELECT count(*) FROM (SELECT pg_background_detach_v2(pid, cookie) FROM pg_background_list()) s;'
	  if $i % 100 == 0;
}
# The largest allowed queue, once (a 1 GB segment; a superuser raises the
# cap first).
push @script, q{SET pg_background.max_queue_size = '1GB';};
push @script, q{SELECT pg_background_detach(pg_background_launch('SELECT 1', 1073741824));};

my $dir = $node->basedir;    # kept when the test fails
my $file = "$dir/fuzz.sql";
open my $fh, '>:encoding(UTF-8)', $file or die "$file: $!";
print $fh "$_\n" for @script;
close $fh;

# ---------------------------------------------------------------------------
# Run it.
# ---------------------------------------------------------------------------
my ($stdout, $stderr) = ("$dir/fuzz.out", "$dir/fuzz.err");
my $h;
{
	local %ENV = %ENV;
	$ENV{PGHOST} = $node->host;
	$ENV{PGPORT} = $node->port;
	$ENV{PGCLIENTENCODING} = 'UTF8';
	$h = IPC::Run::start(
		[
			$node->installed_command('psql'), '-XAtq', '-d', 'postgres',
			'-v', 'ON_ERROR_STOP=0', '-v', 'VERBOSITY=verbose', '-f', $file
		],
		'>', $stdout, '2>', $stderr,
		IPC::Run::timeout(3 * $PostgreSQL::Test::Utils::timeout_default));
	$h->finish;
}
is($h->full_result(0), 0, 'psql ran the whole script without losing its connection');

# ---------------------------------------------------------------------------
# Errors: only expected SQLSTATEs.
# ---------------------------------------------------------------------------
my $expected_re = qr/^(?:22|23|25|2D|3B|40|42|53|54|55|57|0A|P0)...$|^08006$|^AB123$/;
my (%states, @unexpected);
my $errtext = slurp_file($stderr);
my @errlines = split /\n/, $errtext;
for my $l (@errlines)
{
	if ($l =~ /^psql:[^:]*:(\d+): (ERROR|FATAL|PANIC):  ([0-9A-Z]{5}): (.*)$/)
	{
		my ($line, $level, $code, $msg) = ($1, $2, $3, $4);
		$states{$code}++;
		push @unexpected, "$level $code $msg (script line $line: " . substr($script[ $line - 1 ], 0, 200) . ')'
		  if $level ne 'ERROR' || $code !~ $expected_re;
	}
	elsif ($l =~ /^psql:.*(?:FATAL|PANIC|connection to server|server closed|no connection)/)
	{
		push @unexpected, $l;
	}
}
note('SQLSTATEs of the calls: ' . join(', ', map { "$_=$states{$_}" } sort keys %states));
is(scalar(@unexpected), 0, 'every failed call raised an expected SQLSTATE')
  or diag(join("\n", @unexpected[ 0 .. ($#unexpected < 40 ? $#unexpected : 40) ]));
cmp_ok(scalar(keys %states), '>', 5, 'the calls raised a variety of errors');

# ---------------------------------------------------------------------------
# The server.
# ---------------------------------------------------------------------------
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is alive');
is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
	$start_time, 'the server never restarted');
is( $node->safe_psql(
		'postgres',
		q{SELECT * FROM pg_background_result(pg_background_launch('SELECT 42')) AS (x int)}),
	'42', 'the extension still works');
is($node->safe_psql('postgres', q{SELECT to_regclass('fuzz_t') IS NOT NULL}),
	't', 'no argument was run as SQL (fuzz_t still exists)');

# Another session's job was never touched.
$locker->query_safe('SELECT pg_advisory_unlock(777)');
is($other->query_safe("SELECT * FROM pg_background_result_v2($other_job_pid, $other_job_cookie) AS (x int)"),
	'1', "another session's job was not disturbed");
$other->quit;
$locker->quit;

# ---------------------------------------------------------------------------
# Text the extension returns is valid in the database encoding, also when a
# message is longer than the space kept for it in shared memory.
# ---------------------------------------------------------------------------
my ($ret, $out, $err) = $node->psql('postgres', q{
CREATE FUNCTION pg_temp.valid(t text) RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
    PERFORM convert_from(convert_to(t, 'UTF8'), 'UTF8');
    RETURN true;
EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
    RETURN false;
END $$;
SELECT * FROM pg_background_launch_v2($j$SELECT pg_background_progress(50, repeat('é', 200))$j$) \gset p_
SELECT * FROM pg_background_launch_v2($j$DO $d$BEGIN RAISE EXCEPTION USING MESSAGE = repeat('é', 400), DETAIL = repeat('ü', 300), HINT = repeat('ö', 200); END$d$$j$) \gset e_
SELECT pg_background_wait_v2(:p_pid, :p_cookie), pg_background_wait_v2(:e_pid, :e_cookie);
SELECT 'progress_msg', pg_temp.valid(progress_msg) FROM pg_background_get_progress_v2(:p_pid, :p_cookie);
SELECT 'message', pg_temp.valid(message) FROM pg_background_outcome(:e_pid, :e_cookie);
SELECT 'detail', pg_temp.valid(detail) FROM pg_background_outcome(:e_pid, :e_cookie);
SELECT 'hint', pg_temp.valid(hint) FROM pg_background_outcome(:e_pid, :e_cookie);
SELECT 'list', bool_and(pg_temp.valid(coalesce(last_error, '')) AND pg_temp.valid(coalesce(progress_msg, ''))
    AND pg_temp.valid(coalesce(error_detail, '')) AND pg_temp.valid(coalesce(error_hint, ''))) FROM pg_background_list();
});
is($err, '', 'encoding checks ran');
for my $what (qw(progress_msg message detail hint list))
{
	like($out, qr/^\Q$what\E\|t$/m,
		"$what of a job is valid UTF-8 even when clipped to its shared-memory field");
}

# ---------------------------------------------------------------------------
# The server log: no crash, and the workers' own errors are expected ones.
# ---------------------------------------------------------------------------
$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal/, 'no process was terminated by a signal');
unlike($log, qr/\bPANIC:/, 'no PANIC');
unlike($log, qr/all server processes terminated/, 'no crash and restart');
my (%log_states, @log_unexpected);
for my $l (split /\n/, $log)
{
	next unless $l =~ /\b(ERROR|FATAL|PANIC):  ([0-9A-Z]{5}): (.*)$/;
	my ($level, $code, $msg) = ($1, $2, $3);
	$log_states{$code}++;
	push @log_unexpected, "$level $code " . substr($msg, 0, 200)
	  unless $code =~ $expected_re;
}
note('SQLSTATEs in the server log: ' . join(', ', map { "$_=$log_states{$_}" } sort keys %log_states));
is(scalar(@log_unexpected), 0, 'every error in the server log has an expected SQLSTATE')
  or diag(join("\n", @log_unexpected[ 0 .. ($#log_unexpected < 40 ? $#log_unexpected : 40) ]));

done_testing();
