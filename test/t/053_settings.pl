# A job runs with its launcher's settings, whichever way the launcher got
# them (src/settings.c carries only what the session set itself to a fresh
# worker; a pooled worker restores the whole GUC state):
#
# 1. A fresh worker (pool off) sees
#    (a) a connection option (PGOPTIONS -c work_mem=77MB), with source
#        "session" (a SET in the job: see docs/migration.md);
#    (b) ALTER ROLE ... SET of the launcher's login role;
#    (c) ALTER DATABASE ... SET;
#    (d) SET LOCAL inside the launcher's transaction;
#    (e) a SET clause of the function that launches;
#    (f) postgresql.auto.conf after a reload;
#    (g) SET ROLE (current_user and the role setting) and a session
#        setting of a superuser-only parameter.
# 2. A pooled worker that ran a job for a launcher connected with
#    work_mem=77MB runs the next job of a launcher without that option with
#    the server's work_mem, not 77MB.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = PostgreSQL::Test::Cluster->new('settings');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_background'
pg_background.pool_size = 0
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE ROLE regress_s LOGIN;
CREATE ROLE regress_target;
GRANT regress_target TO CURRENT_USER;
SELECT grant_pg_background_privileges(r, false)
  FROM unnest(ARRAY['regress_s', 'regress_target']) r;
ALTER ROLE regress_s SET work_mem = '33MB';
ALTER DATABASE postgres SET lock_timeout = '7s';
});

# "value source" of setting $name in a job launched by a new session
# (options: PGOPTIONS, user to connect as, SQL to run first).
sub job_setting
{
	my ($name, %opt) = @_;
	my $sql = "SELECT * FROM pg_background_result(pg_background_launch("
	  . "\$q\$SELECT current_setting('$name') || ' ' || source FROM pg_settings WHERE name = '$name'\$q\$"
	  . ")) AS (s text)";
	$sql = "$opt{before}; $sql" if defined $opt{before};
	local $ENV{PGOPTIONS} = $opt{options} if defined $opt{options};
	return $node->safe_psql('postgres', $sql,
		defined $opt{user} ? (extra_params => [ '-U', $opt{user} ]) : ());
}

# 1. Fresh workers.
is(job_setting('work_mem', options => '-c work_mem=77MB'),
	'77MB session',
	'(1a) a connection option reaches the job, as a SET ("session"; see docs/migration.md)');
is(job_setting('work_mem', user => 'regress_s'),
	'33MB user', '(1b) ALTER ROLE ... SET of the launching role');
is(job_setting('lock_timeout'), '7s database', '(1c) ALTER DATABASE ... SET');
is( job_setting(
		'work_mem',
		before => "BEGIN; SET LOCAL work_mem = '11MB'"),
	'11MB session',
	'(1d) SET LOCAL in the launching transaction');
$node->safe_psql('postgres', q{
CREATE FUNCTION launch_with_setting() RETURNS text
LANGUAGE sql SET work_mem = '12MB' AS $$
  SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT current_setting(''work_mem'')')) AS (s text)
$$;
});
is($node->safe_psql('postgres', 'SELECT launch_with_setting()'),
	'12MB', "(1e) the launching function's SET clause");
$node->safe_psql('postgres', "ALTER SYSTEM SET work_mem = '21MB'");
$node->reload;
ok( $node->poll_query_until(
		'postgres', q{SELECT current_setting('work_mem') = '21MB'}),
	'(1f) the reload is visible to new sessions');
is(job_setting('work_mem'), '21MB configuration file',
	'(1f) postgresql.auto.conf after a reload');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET work_mem');
$node->reload;
ok( $node->poll_query_until(
		'postgres', q{SELECT current_setting('work_mem') = '4MB'}),
	'(1f) back to the default');
is( $node->safe_psql(
		'postgres', q{
SET ROLE regress_target;
SELECT * FROM pg_background_result(pg_background_launch(
  'SELECT current_user || '' '' || current_setting(''role'')')) AS (s text);
}),
	'regress_target regress_target',
	'(1g) SET ROLE: current_user and the role setting');
is( $node->safe_psql(
		'postgres', q{
SET log_min_duration_statement = '123s';
SELECT s || ' ' || (s = current_setting('log_min_duration_statement'))
FROM pg_background_result(pg_background_launch(
  'SELECT current_setting(''log_min_duration_statement'')')) AS (s text);
}),
	'123s true',
	'(1g) a superuser-only parameter SET by a superuser');

# 2. A pooled worker does not keep an earlier launcher's connection option.
$node->safe_psql('postgres', 'ALTER SYSTEM SET pg_background.pool_size = 2');
$node->reload;
ok( $node->poll_query_until(
		'postgres', q{SELECT current_setting('pg_background.pool_size') = '2'}),
	'(2) pool on');
my $pid_sql = "SELECT * FROM pg_background_result(pg_background_launch("
  . "'SELECT pg_backend_pid() || '' '' || current_setting(''work_mem'')')) AS (s text)";
my $first;
{
	local $ENV{PGOPTIONS} = '-c work_mem=77MB';
	$first = $node->safe_psql('postgres', $pid_sql);
}
like($first, qr/^\d+ 77MB$/, '(2) job of the launcher connected with work_mem=77MB');
ok( $node->poll_query_until(
		'postgres', 'SELECT pool_idle >= 1 FROM pg_background_admission()'),
	'(2) its worker parked');
my ($pid) = split / /, $first;
is($node->safe_psql('postgres', $pid_sql), "$pid 4MB",
	'(2) the same worker runs the next job with the server work_mem');

$node->stop;
done_testing();
