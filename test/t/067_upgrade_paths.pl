# ALTER EXTENSION pg_background UPDATE from every version a database may be
# at (upstream pg_background's 1.0 to 1.8 and 2.0, recreated from
# test/fixtures/upstream, and our own 1.4, 1.6, 1.7, 1.8 from our scripts)
# ends in exactly the catalog of a fresh CREATE EXTENSION: functions with
# their signatures, results, defaults, strictness, SECURITY DEFINER, SET
# clauses, sources and ACLs; types; views; tables (columns, defaults,
# indexes) and the tables pg_dump dumps (extconfig); comments; the members of the
# extension; the role pgbackground_role.  Then: the role is the cluster's
# (reused by the next install, dropped only when no database uses it), the
# extension can move to another schema, and objects of the user's that
# depend on kept objects survive the update.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fixtures = "$FindBin::RealBin/../fixtures/upstream";
my $current = '2.1';

my $node = PostgreSQL::Test::Cluster->new('upgrade_paths');
$node->init;
$node->start;

# The catalog of the extension in $db, one sorted line per fact.
my $dump_sql = <<'EOF';
CREATE FUNCTION pg_temp.acl_items(aclitem[]) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT format('%s=%s%s/%s',
                  CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END,
                  a.privilege_type, CASE WHEN a.is_grantable THEN '*' ELSE '' END,
                  a.grantor::regrole)
      FROM aclexplode($1) a
$$;
WITH ext AS (
    SELECT oid FROM pg_extension WHERE extname = 'pg_background'
), members AS (
    SELECT d.classid, d.objid FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid
       AND d.deptype = 'e'
)
SELECT line FROM (
    SELECT format('extension %s relocatable=%s schema=%s config=%s',
                  extversion, extrelocatable, extnamespace::regnamespace,
                  (SELECT string_agg(format('%s(%s)', c.oid::regclass, w.cond), ','
                                     ORDER BY c.oid::regclass::text)
                     FROM unnest(extconfig, extcondition) w(rel, cond)
                     JOIN pg_class c ON c.oid = w.rel))
      FROM pg_extension WHERE extname = 'pg_background'
    UNION ALL
    SELECT 'member ' || pg_describe_object(classid, objid, 0) FROM members
    UNION ALL
    SELECT format('function %s(%s) returns %s kind=%s lang=%s strict=%s secdef=%s '
                  'volatile=%s parallel=%s leakproof=%s cost=%s rows=%s config=%s '
                  'symbol=%s library=%s owner=%s acl=%s comment=%s',
                  p.proname, pg_get_function_arguments(p.oid),
                  pg_get_function_result(p.oid), p.prokind, l.lanname,
                  p.proisstrict, p.prosecdef, p.provolatile, p.proparallel,
                  p.proleakproof, p.procost, p.prorows, p.proconfig,
                  CASE WHEN l.lanname = 'c' THEN p.prosrc ELSE md5(p.prosrc) END,
                  p.probin, p.proowner::regrole,
                  (SELECT string_agg(i, ',' ORDER BY i) FROM pg_temp.acl_items(coalesce(p.proacl, acldefault('f', p.proowner))) i),
                  obj_description(p.oid, 'pg_proc'))
      FROM members m
      JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
      JOIN pg_language l ON l.oid = p.prolang
    UNION ALL
    SELECT format('type %s type=%s columns=(%s) owner=%s acl=%s comment=%s',
                  t.oid::regtype, t.typtype,
                  (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod),
                                     ', ' ORDER BY a.attnum)
                     FROM pg_attribute a
                    WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped),
                  t.typowner::regrole,
                  (SELECT string_agg(i, ',' ORDER BY i) FROM pg_temp.acl_items(coalesce(t.typacl, acldefault('T', t.typowner))) i),
                  obj_description(t.oid, 'pg_type'))
      FROM members m
      JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
    UNION ALL
    SELECT format('relation %s kind=%s definition=%s columns=(%s) indexes=(%s) owner=%s acl=%s comment=%s',
                  c.oid::regclass, c.relkind, pg_get_viewdef(c.oid),
                  (SELECT string_agg(format('%s %s notnull=%s default=%s', a.attname,
                                            format_type(a.atttypid, a.atttypmod), a.attnotnull,
                                            pg_get_expr(ad.adbin, ad.adrelid)),
                                     ', ' ORDER BY a.attnum)
                     FROM pg_attribute a
                     LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                      AND c.relkind IN ('r', 'p')),
                  (SELECT string_agg(pg_get_indexdef(i.indexrelid), '; ' ORDER BY 1)
                     FROM pg_index i WHERE i.indrelid = c.oid),
                  c.relowner::regrole,
                  (SELECT string_agg(i, ',' ORDER BY i) FROM pg_temp.acl_items(coalesce(c.relacl, acldefault('r', c.relowner))) i),
                  obj_description(c.oid, 'pg_class'))
      FROM members m
      JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    UNION ALL
    SELECT format('role %s login=%s inherit=%s super=%s createrole=%s createdb=%s '
                  'replication=%s bypassrls=%s connlimit=%s',
                  rolname, rolcanlogin, rolinherit, rolsuper, rolcreaterole,
                  rolcreatedb, rolreplication, rolbypassrls, rolconnlimit)
      FROM pg_roles WHERE rolname = 'pgbackground_role'
    UNION ALL
    SELECT format('membership %s in %s', member::regrole, roleid::regrole)
      FROM pg_auth_members
     WHERE 'pgbackground_role' IN (member::regrole::text, roleid::regrole::text)
) facts(line)
ORDER BY line;
EOF

sub dump_catalog
{
	my ($db) = @_;
	return $node->safe_psql($db, $dump_sql);
}

# Recreate upstream's catalog at $version in a new database $db: our 1.4,
# emptied, becomes the extension's shell; the fixture's objects are added
# to it and it takes the fixture's version name.
sub install_upstream
{
	my ($db, $version) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE \"$db\"");
	$node->safe_psql(
		$db, q{
CREATE EXTENSION pg_background VERSION '1.4';
ALTER EXTENSION pg_background DROP FUNCTION pg_background_launch(text, integer);
ALTER EXTENSION pg_background DROP FUNCTION pg_background_result(integer);
ALTER EXTENSION pg_background DROP FUNCTION pg_background_detach(integer);
DROP FUNCTION pg_background_launch(text, integer), pg_background_result(integer),
    pg_background_detach(integer);
});
	$node->safe_psql($db, "\\i $fixtures/pg_background--$version.sql");
	$node->safe_psql(
		$db, qq{
DO \$\$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT 'FUNCTION' AS kind, p.oid::regprocedure::text AS name
          FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
        UNION ALL
        SELECT 'TYPE', t.oid::regtype::text
          FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
         WHERE t.typnamespace = 'public'::regnamespace
        UNION ALL
        SELECT 'VIEW', c.oid::regclass::text
          FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'v'
    LOOP
        EXECUTE format('ALTER EXTENSION pg_background ADD %s %s', r.kind, r.name);
    END LOOP;
END
\$\$;
UPDATE pg_extension SET extversion = '$version' WHERE extname = 'pg_background';
});
	return;
}

# The lines of two catalog dumps that only one of them has.
sub catalog_difference
{
	my ($got, $want) = @_;
	my %want = map { $_ => 1 } split /\n/, $want;
	my %got = map { $_ => 1 } split /\n/, $got;
	return join("\n",
		(map { "only after the update: $_" } grep { !$want{$_} } sort keys %got),
		(map { "only in a fresh install: $_" } grep { !$got{$_} } sort keys %want));
}

sub role_exists
{
	return $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_roles WHERE rolname = 'pgbackground_role'});
}

# Each starting point, updated.  Upstream 1.0 goes first, while the cluster
# has no pgbackground_role: the update creates it.
my %updated;
is(role_exists(), '0', 'no pgbackground_role before any install');
foreach my $version ('1.0', '1.1', '1.2', '1.3', '1.4', '1.5', '1.6', '1.7', '1.8', '2.0')
{
	my $db = "upstream_$version";
	install_upstream($db, $version);
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'pg_background'}),
		$version, "upstream $version: installed from its fixture");
	# An object of the user's that uses a type the update keeps.
	$node->safe_psql($db, 'CREATE TABLE user_handles (h pg_background_handle)')
	  if $version ge '1.5';
	my ($ret, $stdout, $stderr) =
	  $node->psql($db, 'ALTER EXTENSION pg_background UPDATE');
	is($ret, 0, "upstream $version: ALTER EXTENSION UPDATE succeeds")
	  or diag($stderr);
	$updated{"upstream $version"} = dump_catalog($db);
}
is(role_exists(), '1', 'the update from upstream 1.0 created pgbackground_role');

foreach my $version ('1.4', '1.6', '1.7', '1.8')
{
	my $db = "ours_$version";
	$node->safe_psql('postgres', "CREATE DATABASE \"$db\"");
	$node->safe_psql($db, "CREATE EXTENSION pg_background VERSION '$version'");
	$node->safe_psql($db, 'CREATE TABLE user_handles (h pg_background_handle)')
	  if $version ge '1.7';
	# A grant of the user's on a function whose declaration changes.
	$node->safe_psql($db, q{CREATE ROLE regress_keep_grant; GRANT EXECUTE ON FUNCTION
	    pg_background_launch_v2(text, integer, text) TO regress_keep_grant})
	  if $version eq '1.8';
	my ($ret, $stdout, $stderr) =
	  $node->psql($db, 'ALTER EXTENSION pg_background UPDATE');
	is($ret, 0, "ours $version: ALTER EXTENSION UPDATE succeeds")
	  or diag($stderr);
	if ($version eq '1.8')
	{
		is( $node->safe_psql(
				$db,
				q{SELECT has_function_privilege('regress_keep_grant',
				    'pg_background_launch_v2(text, integer, text)', 'EXECUTE')}),
			't',
			'ours 1.8: a grant on launch_v2(text, integer, text) survives its re-creation');
		$node->safe_psql($db, q{REVOKE EXECUTE ON FUNCTION
		    pg_background_launch_v2(text, integer, text) FROM regress_keep_grant});
	}
	$updated{"ours $version"} = dump_catalog($db);
}

# A fresh install, in a database of its own, with the role already there.
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION pg_background');
my $fresh = dump_catalog('fresh');
like($fresh, qr/^extension $current relocatable=t schema=public/m,
	"a fresh install is at $current, relocatable");
like($fresh, qr/^role pgbackground_role login=f inherit=t super=f/m,
	'pgbackground_role is a NOLOGIN role');
like(
	$fresh,
	qr/^function pg_background_launch_v2\(sql text, queue_size integer DEFAULT 0\) returns pg_background_handle .* strict=f .*acl=[^ ]*pgbackground_role=EXECUTE/m,
	'launch_v2(text, integer) defaults queue_size to 0, is not strict, and pgbackground_role may execute it'
);
unlike($fresh, qr/PUBLIC=EXECUTE/, 'PUBLIC may execute no function');
foreach my $start (sort keys %updated)
{
	is($updated{$start}, $fresh, "$start: the updated catalog equals a fresh install's")
	  or diag(catalog_difference($updated{$start}, $fresh));
}

# Kept objects keep what depends on them.
is($node->safe_psql('upstream_1.8', q{SELECT count(*) FROM user_handles}),
	'0', 'upstream 1.8: the table using pg_background_handle is still there');

# The updated catalogs work: a job runs, and the queue_size default (0) is
# pg_background.default_queue_size.
is( $node->safe_psql(
		'upstream_1.8', q{
SELECT * FROM pg_background_result(pg_background_launch('SELECT 18')) AS (x int);
SELECT h.pid, h.cookie FROM pg_background_launch_v2('SELECT 1') h \gset
SELECT queue_size FROM pg_background_jobs WHERE pid = :pid AND cookie = :cookie;
}),
	"18\n65536",
	'upstream 1.8, updated: launch works and queue_size 0 is the default size');

# The role is the cluster's.  A member of it can use the extension in a
# database created after it.
$node->safe_psql('postgres',
	'CREATE ROLE regress_app LOGIN; GRANT pgbackground_role TO regress_app');
$node->safe_psql('postgres', 'CREATE DATABASE later');
$node->safe_psql('later', 'CREATE EXTENSION pg_background');
is( $node->safe_psql(
		'later',
		q{SELECT * FROM pg_background_result(pg_background_launch('SELECT current_user::text')) AS (u text)},
		extra_params => [ '-U', 'regress_app' ]),
	'regress_app',
	'a member of the pre-existing pgbackground_role runs a job in a new database');
is($node->safe_psql('later', q{SELECT has_function_privilege('regress_app',
	    'pg_background_drop_executor_role()', 'EXECUTE')}),
	'f', 'members of pgbackground_role may not drop it');

# pg_background_drop_executor_role: while other databases grant the role
# anything, DROP ROLE fails and nothing changes.
my ($ret, $stdout, $stderr) = $node->psql(
	'later',
	'SELECT pg_background_drop_executor_role()',
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($stderr, qr/ERROR:  2BP01: role "pgbackground_role" cannot be dropped because some objects depend on it/,
	'drop_executor_role fails with 2BP01 while other databases use the role');
is($node->safe_psql('later', q{SELECT has_function_privilege('pgbackground_role',
	    'pg_background_launch(text, integer)', 'EXECUTE')}),
	't', '... and the role keeps its privileges here');
foreach my $db (map { s/^(upstream|ours) /$1_/r } keys %updated)
{
	$node->safe_psql('postgres', "DROP DATABASE \"$db\"");
}
$node->safe_psql('fresh', 'DROP EXTENSION pg_background');
$node->safe_psql('later', 'SELECT pg_background_drop_executor_role()');
is(role_exists(), '0', 'drop_executor_role drops the role once no other database uses it');
$node->safe_psql('later', 'SELECT pg_background_drop_executor_role()');
is(role_exists(), '0', '... and does nothing when there is no role');

# Relocation: the extension moves, and its helpers follow it.
$node->safe_psql('later', 'CREATE SCHEMA moved; ALTER EXTENSION pg_background SET SCHEMA moved');
is( $node->safe_psql(
		'later', q{
SELECT * FROM moved.pg_background_result(moved.pg_background_launch('SELECT 4')) AS (x int);
SELECT h.pid, h.cookie FROM moved.pg_background_launch_v2('SELECT 5', 0, 'lbl') h \gset
SELECT * FROM moved.pg_background_result_v2(:pid, :cookie) AS (x int);
SELECT count(*) FROM moved.pg_background_jobs;
CREATE ROLE regress_moved;
SELECT moved.grant_pg_background_privileges('regress_moved');
SELECT has_function_privilege('regress_moved', 'moved.pg_background_launch(text, integer)', 'EXECUTE');
SELECT moved.revoke_pg_background_privileges('regress_moved');
DROP ROLE regress_moved;
SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'pg_background';
}),
	"4\n5\n2\nt\nt\nt\nmoved",
	'after SET SCHEMA, jobs run, the view and the privilege helpers work');
$node->safe_psql('later', 'DROP EXTENSION pg_background; DROP SCHEMA moved');

$node->stop;
done_testing();
