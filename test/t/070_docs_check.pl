# The docs check: every SQL example of README.md and docs/*.md runs, in the
# mode its document names, and the output the document shows is the real
# output; and the version-dependent text of the documents matches the tree.
#
# The convention (docs/reliability.md, "How the documents are checked",
# tells readers about it):
#
# - A ```sql block is an example.  It runs in psql (-X -q, aligned output),
#   in one session per document and mode, in document order, so psql
#   variables (\gset) and tables carry from one example to the next.  Each
#   session starts in a new database of its own, without the extension.
# - A fenced block with no language after it (only blank lines between) is
#   its output: what psql prints for the example, results and messages
#   (ERROR, NOTICE, ...) in order, compared line by line.  Not compared:
#   blank lines, trailing blanks, and the result of calls of functions that
#   return void (columns named after such functions, one row of empty
#   values); "(n rows)" footers only where the block shows any.  In a shown
#   line, <pid>, <cookie>, <n> or any other <lower-case words> stands for any
#   text (PIDs, cookies, OIDs change from run to run).
# - An example without an output block must run without an ERROR.
# - A comment line "-- ERROR:  message" right after a statement shows that
#   statement's error (placeholders allowed); "-- DETAIL:", "-- HINT:" or
#   "-- CONTEXT:" lines after it show those lines of the error, the ones not
#   shown are not compared.  The error is then not part of the output block.
# - Markers (HTML comments, invisible on the rendered page) before an
#   example:
#     <!-- docs-check: plain -->               the mode of this and every
#     <!-- docs-check: preload -->             later example of the document
#     <!-- docs-check: preload pool=4 -->      (the default is plain; modes
#     <!-- docs-check: plain, preload -->      separated by commas: the
#                                              examples run in each, with the
#                                              same output)
#     <!-- docs-check: skip <reason> -->       the next example is not run
#     <!-- docs-check: setup                   SQL run at this point of the
#     CREATE TABLE ...;                        session(s), not shown; it
#     -->                                      must not fail
#   plain: no shared_preload_libraries; preload: shared_preload_libraries =
#   'pg_background' (pool_size 0); preload pool=N: and pool_size = N.
#
# Version-dependent text: the default version (pg_background.control's
# default_version) is the Makefile's PGBG_CURRENT and META.json's version;
# every "default version", "our version", "its version", "(version X)",
# "to X", "on X's" claim of the documents names it; every script name
# pg_background--X.sql or pg_background--X--Y.sql they give exists in sql/
# or is one of the update scripts that make writes; archive and package
# names carry the version of META.json and debian/changelog.
#
# Run alone: bash scripts/test.sh REGRESS= ISOLATION= PROVE_TESTS=test/t/070_docs_check.pl
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $root = "$FindBin::RealBin/../..";
my @docs = ('README.md', map { s{^\Q$root\E/}{}r } sort glob("$root/docs/*.md"));

# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------

# The examples of a document: a list of units, each
# { file, line, modes => [...], sql, expected (undef: none shown),
#   setup (1: a hidden setup), skip (reason) }.
sub parse_doc
{
	my ($file) = @_;
	open(my $fh, '<', "$root/$file") or die "$file: $!";
	my @lines = <$fh>;
	close $fh;
	chomp @lines;

	my @units;
	my @modes = ('plain');
	my $skip;
	my $i = 0;
	while ($i < @lines)
	{
		my $l = $lines[$i];
		if ($l =~ /^\s*<!--\s*docs-check:\s*setup\s*$/)
		{
			my $start = $i + 1;
			my @sql;
			$i++;
			while ($i < @lines && $lines[$i] !~ /^\s*-->\s*$/)
			{
				push @sql, $lines[$i++];
			}
			die "$file:$start: setup comment not closed" if $i >= @lines;
			push @units,
			  {
				file => $file,
				line => $start,
				modes => [@modes],
				sql => join("\n", @sql),
				setup => 1
			  };
			$i++;
			next;
		}
		if ($l =~ /^\s*<!--\s*docs-check:\s*(.*?)\s*-->\s*$/)
		{
			my $what = $1;
			if ($what =~ /^skip\s+(\S.*)$/)
			{
				$skip = $1;
			}
			elsif ($what =~ /^(plain|preload)/)
			{
				@modes = map { s/^\s+|\s+$//gr } split /,/, $what;
				for (@modes)
				{
					die "$file:" . ($i + 1) . ": unknown mode '$_'"
					  unless /^(plain|preload|preload pool=\d+)$/;
				}
			}
			else
			{
				die "$file:" . ($i + 1) . ": unknown docs-check marker '$what'";
			}
			$i++;
			next;
		}
		if ($l =~ /^(\s*)```sql\s*$/)
		{
			my $indent = length $1;
			my $start = $i + 1;
			my @sql;
			$i++;
			while ($i < @lines && $lines[$i] !~ /^\s*```\s*$/)
			{
				push @sql, substr($lines[$i++], $indent);
			}
			die "$file:$start: sql block not closed" if $i >= @lines;
			$i++;
			my $expected;
			my $k = $i;
			$k++ while $k < @lines && $lines[$k] =~ /^\s*$/;
			if ($k < @lines && $lines[$k] =~ /^\s*```\s*$/)
			{
				$i = $k;
				my @out;
				$i++;
				while ($i < @lines && $lines[$i] !~ /^\s*```\s*$/)
				{
					push @out, substr($lines[$i++], $indent);
				}
				die "$file:$start: output block not closed" if $i >= @lines;
				$i++;
				$expected = \@out;
			}
			push @units,
			  {
				file => $file,
				line => $start,
				modes => [@modes],
				sql => join("\n", @sql),
				expected => $expected,
				skip => $skip
			  };
			undef $skip;
			next;
		}
		if ($l =~ /^\s*```/)
		{
			# Another fenced block (bash, plain text): skip it whole.
			$i++;
			$i++ while $i < @lines && $lines[$i] !~ /^\s*```\s*$/;
		}
		$i++;
	}
	die "$file: a skip marker is not followed by an example" if defined $skip;
	return @units;
}

# ---------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------

# Whether the real line $got matches the shown line $shown, whose
# <placeholders> stand for any text.
sub line_matches
{
	my ($shown, $got) = @_;
	my $re = join('.+?',
		map { quotemeta } split(/<[a-z][a-z ]*>/, $shown, -1));
	return $got =~ /^$re$/;
}

# Whether a line of psql's output starts a server message.
my $msg_re = qr/^(ERROR|WARNING|NOTICE|INFO|LOG|FATAL|PANIC):  /;
my $cont_re = qr/^(DETAIL|HINT|CONTEXT|QUERY|LINE \d+|STATEMENT):  |^\s/;

# The example's SQL as sent to psql: each "-- ERROR:" comment block after a
# statement becomes a marker line; returns (sql, [comment blocks]).
sub instrument
{
	my ($sql, $tag) = @_;
	my @out;
	my @comments;
	my @lines = split /\n/, $sql, -1;
	for (my $i = 0; $i < @lines; $i++)
	{
		if ($lines[$i] =~ /^-- ((?:ERROR|WARNING|NOTICE):  .*)$/)
		{
			my @c = ($1);
			while ($i + 1 < @lines
				&& $lines[ $i + 1 ] =~ /^-- ((?:DETAIL|HINT|CONTEXT):  .*)$/)
			{
				push @c, $1;
				$i++;
			}
			push @comments, \@c;
			push @out, "\\echo \@\@docs-check $tag comment " . $#comments . '@@';
		}
		else
		{
			push @out, $lines[$i];
		}
	}
	return (join("\n", @out), \@comments);
}

# The output of one example, checked against its "-- ERROR:" comments
# (whose errors are taken out) and stripped of what is not shown; returns
# (lines, [problems]).
sub digest_output
{
	my ($raw, $comments, $tag, $void) = @_;
	my @problems;
	my @lines = split /\n/, $raw, -1;
	my @kept;
	for my $l (@lines)
	{
		if ($l =~ /^\@\@docs-check \Q$tag\E comment (\d+)\@\@$/)
		{
			my @c = @{ $comments->[$1] };
			my ($level) = $c[0] =~ /^(\w+):/;

			# The message: the last $level line since the previous comment,
			# and its continuation lines.
			my $at;
			for (my $j = $#kept; $j >= 0; $j--)
			{
				last if $kept[$j] eq "\0";
				if ($kept[$j] =~ /^\Q$level\E:  /) { $at = $j; last; }
			}
			if (!defined $at)
			{
				push @problems, "no $level before the comment \"-- $c[0]\"";
				push @kept, "\0";
				next;
			}
			my $end = $at + 1;
			$end++ while $end < @kept && $kept[$end] =~ $cont_re;
			my @msg = splice(@kept, $at, $end - $at);
			push @problems, "shown \"-- $c[0]\", got \"$msg[0]\""
			  unless line_matches($c[0], $msg[0]);
			for my $cl (@c[ 1 .. $#c ])
			{
				my ($label) = $cl =~ /^(\w+):/;
				my ($ml) = grep { /^\Q$label\E:  / } @msg;
				push @problems,
				  "shown \"-- $cl\", got " . (defined $ml ? "\"$ml\"" : "no $label")
				  unless defined $ml && line_matches($cl, $ml);
			}
			push @kept, "\0";
			next;
		}
		push @kept, $l;
	}
	@kept = grep { $_ ne "\0" } @kept;
	s/\s+$// for @kept;

	# Drop the results of void calls: a header that names only functions
	# returning void, separator, one row of empty values, end of the table.
	my @shown;
	for (my $j = 0; $j < @kept; $j++)
	{
		if (   $j + 2 < @kept
			&& !grep({ !$void->{$_} } map { s/^\s+|\s+$//gr } split /\|/, $kept[$j])
			&& $kept[ $j + 1 ] =~ /^-+(\+-+)*$/
			&& $kept[ $j + 2 ] =~ /^[\s|]*$/
			&& $j + 3 < @kept
			&& $kept[ $j + 3 ] eq '(1 row)')
		{
			$j += 3;
			next;
		}
		push @shown, $kept[$j];
	}
	return ([ grep { $_ ne '' } @shown ], \@problems);
}

# Keep the real output of an example that differs from its document, in
# tmp_check/docs_check/, for whoever fixes the document.
sub dump_actual
{
	my ($u, $mode, $lines) = @_;
	my $dir = "${PostgreSQL::Test::Utils::tmp_check}/docs_check";
	mkdir $dir;
	(my $name = "$u->{file}_$u->{line}_$mode") =~ s/\W+/_/g;
	open(my $fh, '>', "$dir/$name.out") or die "$dir/$name.out: $!";
	print $fh map { "$_\n" } @$lines;
	close $fh;
	diag("real output in $dir/$name.out");
	return;
}

# ---------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------

my %nodes;

sub node_for
{
	my ($mode) = @_;
	return $nodes{$mode} if $nodes{$mode};
	(my $name = "docs_$mode") =~ s/\W+/_/g;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	my $conf = "max_worker_processes = 32\n";
	if ($mode =~ /^preload/)
	{
		my ($pool) = $mode =~ /pool=(\d+)/;
		$conf .= "shared_preload_libraries = 'pg_background'\n";
		$conf .= "pg_background.pool_size = " . ($pool // 0) . "\n";
	}
	$node->append_conf('postgresql.conf', $conf);
	$node->start;
	return $nodes{$mode} = $node;
}

# ---------------------------------------------------------------------------
# The examples
# ---------------------------------------------------------------------------

my @units = map { parse_doc($_) } @docs;
ok(scalar(grep { !$_->{setup} } @units) > 0, 'the documents have examples');

# Group by (document, mode), in document order.
my (%group, @order);
for my $u (@units)
{
	for my $m (@{ $u->{modes} })
	{
		my $key = "$u->{file}\0$m";
		push @order, $key unless $group{$key};
		push @{ $group{$key} }, $u;
	}
}

for my $key (@order)
{
	my ($file, $mode) = split /\0/, $key;
	my @g = grep { !defined $_->{skip} } @{ $group{$key} };
	for my $u (grep { defined $_->{skip} } @{ $group{$key} })
	{
		note "$file:$u->{line} ($mode): skipped: $u->{skip}";
	}
	next unless @g;
	my $node = node_for($mode);
	(my $db = lc "docs_$file") =~ s/\W+/_/g;
	$node->safe_psql('postgres', "CREATE DATABASE $db");

	my $script = '';
	my @comments;
	for my $n (0 .. $#g)
	{
		my ($sql, $c) = instrument($g[$n]{sql}, $n);
		$comments[$n] = $c;
		$script .= "\\echo \@\@docs-check unit $n\@\@\n$sql\n";
	}
	$script .= "\\echo \@\@docs-check end\@\@\n";

	my $out = '';
	IPC::Run::run(
		[ 'psql', '-X', '-q', '-d', $node->connstr($db) ],
		'<', \$script, '>&', \$out,
		IPC::Run::timeout(5 * $PostgreSQL::Test::Utils::timeout_default));

	my %void = map { $_ => 1 } split /\n/,
	  $node->safe_psql($db,
		"SELECT DISTINCT proname FROM pg_proc WHERE prorettype = 'void'::regtype");

	my @parts = split /^\@\@docs-check unit (\d+)\@\@\n/m, $out;
	my $lead = shift @parts;
	is($lead, '', "$file ($mode): nothing before the first example");
	my %raw = @parts;
	like($out, qr/^\@\@docs-check end\@\@$/m, "$file ($mode): psql ran to the end");

	for my $n (0 .. $#g)
	{
		my $u = $g[$n];
		my $what = "$file:$u->{line} ($mode)";
		my $raw = $raw{$n} // '';
		$raw =~ s/^\@\@docs-check end\@\@\n?//m;
		my ($got, $problems) = digest_output($raw, $comments[$n], $n, \%void);
		is_deeply($problems, [], "$what: the errors its comments show")
		  or diag($raw);
		if (defined $u->{expected} && !$u->{setup})
		{
			my @want = grep { $_ ne '' } map { s/\s+$//r } @{ $u->{expected} };

			# Footers are compared where the output block shows them.
			@$got = grep { !/^\(\d+ rows?\)$/ } @$got
			  unless grep { /^\(\d+ rows?\)$/ } @want;

			# Real lines that match a shown line with placeholders are
			# compared as the shown line.
			my @cmp = map {
				my $w = $want[$_];
				defined $w && $got->[$_] && line_matches($w, $got->[$_])
				  ? $w
				  : $got->[$_]
			} 0 .. $#$got;
			is(join("\n", @cmp), join("\n", @want), "$what: output as shown")
			  or dump_actual($u, $mode, \@cmp);
		}
		else
		{
			my @bad = grep { /^(ERROR|FATAL|PANIC):|^psql:|^invalid command/ } @$got;
			is(join("\n", @bad), '', "$what: runs without error");
		}
	}
}

# ---------------------------------------------------------------------------
# Version-dependent text
# ---------------------------------------------------------------------------

sub slurp
{
	my ($f) = @_;
	open(my $fh, '<', "$root/$f") or die "$f: $!";
	local $/;
	my $t = <$fh>;
	close $fh;
	return $t;
}

my ($current) = slurp('pg_background.control') =~ /^default_version = '([^']+)'/m;
ok(defined $current, "pg_background.control has a default_version ($current)");
my $makefile = slurp('Makefile');
my ($mk_current) = $makefile =~ /^PGBG_CURRENT = (\S+)/m;
is($mk_current, $current, 'the Makefile\'s PGBG_CURRENT is default_version');
my ($from) = $makefile =~ /^PGBG_UPDATE_FROM = (.*)$/m;
my %update_from = map { $_ => 1 } split ' ', $from;
my ($meta) = slurp('META.json') =~ /"version": "([^"]+)"/;
is($meta, "$current.0", 'META.json\'s version is default_version.0');
my ($deb) = slurp('debian/changelog') =~ /^pg-background \(([^)]+)\)/;
is($deb, $current, 'debian/changelog\'s last version is default_version');

my @claims = (
	qr/default version,?\s+(?:is\s+)?(\d+\.\d+)/i,
	qr/\b(?:our|its|the extension's) version(?: number)?,?\s+(?:is\s+)?(\d+\.\d+)/i,
	qr/CREATE EXTENSION pg_background`?\s+\(version (\d+\.\d+)\)/i,
	qr/UPDATE;?\s+--\s+to (\d+\.\d+)/i,
	qr/\bconverges? (?:it |the catalog )?on (\d+\.\d+)'s/i,
	qr/\bgets? to (\d+\.\d+)\b/i,
	qr/\bmoves? an existing installation, ours or upstream's, to (\d+\.\d+)/i,
	qr/\bwhich (\d+\.\d+) does not have/i,
	qr/\b(\d+\.\d+)'s changes/i,);
my $nclaims = 0;
for my $f (@docs)
{
	(my $text = slurp($f)) =~ s/\s+/ /g;
	for my $re (@claims)
	{
		while ($text =~ /$re/g)
		{
			$nclaims++;
			is($1, $current, "$f: \"$&\" names the default version");
		}
	}
	while ($text =~ /\bpg_background--([\w.<>]+?)(?:--([\w.<>]+?))?\.sql\b/g)
	{
		my ($a, $b) = ($1, $2);
		if (!defined $b)
		{
			ok(-f "$root/sql/pg_background--$a.sql", "$f: sql/pg_background--$a.sql exists");
		}
		elsif (-f "$root/sql/pg_background--$a--$b.sql")
		{
			pass("$f: sql/pg_background--$a--$b.sql exists");
		}
		else
		{
			is($b, $current, "$f: the update script pg_background--$a--$b.sql leads to default_version");
			ok($a eq '<version>' || $update_from{$a},
				"$f: make writes an update script from $a");
		}
	}
	while ($text =~ /\bpg_background-(\d[\w.]*?)\.zip\b/g)
	{
		is($1, $meta, "$f: the archive pg_background-$1.zip has META.json's version");
	}
	while ($text =~ /\bpostgresql-\d+-pg-background_([^_\s]+)_\w+\.deb\b/g)
	{
		is($1, $deb, "$f: the package file name has debian/changelog's version");
	}
}
ok($nclaims > 0, "the documents name the default version ($nclaims claims checked)");

# Every setting of the extension is named in configuration.md, and has a
# row in a settings table (configuration.md, reference.md, directory.md).
{
	my $node = node_for('preload');
	my @gucs = split /\n/,
	  $node->safe_psql('postgres',
		"SELECT name FROM pg_settings WHERE name LIKE 'pg\\_background.%' ORDER BY name");
	ok(scalar(@gucs) > 0, 'the extension has settings (' . scalar(@gucs) . ')');
	my $conf = slurp('docs/configuration.md');
	my $tables = $conf . slurp('docs/reference.md') . slurp('docs/directory.md') . slurp('docs/durable.md');
	for my $g (@gucs)
	{
		like($conf, qr/`\Q$g\E`/, "docs/configuration.md names $g");
		like($tables, qr/^\| `\Q$g\E` \|/m, "a settings table has a row for $g");
	}
}

done_testing();
