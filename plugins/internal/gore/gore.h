/*
 * gore.h: Go's regexp (RE2 syntax, regexp.Compile) for the bundled
 * plugins' C ports, as far as it can be kept exact without Unicode tables.
 * Header only, standard C plus wasi-libc; include it after jr.h (it uses
 * utf8_decode).
 *
 * What it is:
 *   - a parser of Go's syntax with regexp.Compile's flags (syntax.Perl):
 *     literals, ., [...] [^...] with ranges and escapes, \d \w \s \D \W \S,
 *     [[:alpha:]] and the other ASCII classes, ^ $ \A \z \b \B, groups
 *     (...) (?:...) (?P<name>...) (?<name>...), flags (?i) (?m) (?s) (?U)
 *     and (?flags:...), | * + ? {n} {n,} {n,m} and their lazy forms,
 *     \x41 \x{263a} \101 \a \f \n \r \t \v, \Q...\E, the repeat limit
 *     1000; its errors are regexp.Compile's, word for word
 *     ("error parsing regexp: missing closing ): `(a`");
 *   - a compiler that follows regexp/syntax's (the same program shape,
 *     Simplify's repeat expansion, (f1+)? for a star of something that can
 *     match empty), so that submatch priorities are Go's;
 *   - a Pike VM (Russ Cox, "Regular Expression Matching: the Virtual
 *     Machine Approach"): threads in priority order, each with its capture
 *     positions, one step per rune, no backtracking: time O(pattern x
 *     text), memory fixed at compile time. Leftmost-first, as Go's
 *     FindStringSubmatchIndex. Text is decoded as Go decodes it: UTF-8
 *     runes, a byte that does not start a valid encoding is one rune
 *     U+FFFD of width 1.
 *
 *   - (?i) folds as Go's does, through unicode.SimpleFold's orbits (the
 *     table below is generated from Go's unicode package): k matches K and
 *     U+212A, é matches É.
 *
 * What it refuses (gore_compile fails with c_only set, so the caller can
 * say to use the Go build), rather than behave differently:
 *   - Unicode classes \p{Greek} \pL \P{...} (their tables are large);
 *   - groups nested deeper than GORE_MAX_DEPTH, programs over
 *     GORE_MAX_INST instructions, and capture state over GORE_MAX_STATE
 *     slots (instructions x capture slots), which bound the VM's memory.
 */
#ifndef POSTERN_GORE_H
#define POSTERN_GORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GORE_FN static __attribute__((unused))

#define GORE_MAX_DEPTH 100
#define GORE_MAX_INST 20000
#define GORE_MAX_STATE (1 << 17)
#define GORE_MAX_RUNE 0x10FFFFu

/* flags (regexp/syntax's, the ones Perl mode uses) */
#define GF_FOLD 1
#define GF_ONELINE 2 /* cleared by (?m) */
#define GF_DOTNL 4
#define GF_NONGREEDY 8

enum { GN_EMPTY, GN_STR, GN_CLASS, GN_ANY, GN_ANYNL, GN_BOL, GN_EOL, GN_BOT, GN_EOT, GN_WB, GN_NWB,
       GN_CAP, GN_STAR, GN_PLUS, GN_QUEST, GN_REP, GN_CAT, GN_ALT };

typedef struct {
	uint8_t op, fold, ng;
	int32_t min, max, cap;
	int32_t off, len; /* GN_STR: runes[off..off+len); GN_CLASS: ranges[off..off+len) (pairs) */
	int32_t sub, next; /* first child, next sibling (-1) */
} gore_node;

enum { GI_FAIL, GI_MATCH, GI_RUNE, GI_ALT, GI_CAP, GI_EMPTY, GI_NOP };
#define GE_BOL 1
#define GE_EOL 2
#define GE_BOT 4
#define GE_EOT 8
#define GE_WB 16
#define GE_NWB 32

typedef struct {
	uint8_t op;
	uint32_t out, arg;
	int32_t off, len; /* GI_RUNE: ranges */
} gore_inst;

typedef struct {
	/* the program */
	gore_inst *inst;
	int ninst;
	uint32_t *ranges; /* rune ranges of GI_RUNE, [lo, hi] pairs, sorted */
	int nranges;
	uint32_t start;
	int anchored; /* starts with \A: only a match at 0 */
	int ngroups;  /* NumSubexp */
	char **names; /* [ngroups+1], "" for unnamed */
	/* the literal path prefix (syntax.Parse, Simplify: the unfolded
	   literals right after a leading \A) */
	char *prefix;
	size_t prefix_len;
} gore;

/* Generated from Go's unicode.SimpleFold: runs {lo, hi, delta} of runes r with
   SimpleFold(r) = r + delta; other runes fold to themselves. 1377 runs. */
#define GORE_MIN_FOLD 0x41u
#define GORE_MAX_FOLD 0x1E943u
static const struct gore_fold_run { uint32_t lo, hi; int32_t delta; } gore_fold_runs[] = {
	{0x41, 0x5A, 32}, {0x61, 0x6A, -32}, {0x6B, 0x6B, 8383}, {0x6C, 0x72, -32}, 
	{0x73, 0x73, 268}, {0x74, 0x7A, -32}, {0xB5, 0xB5, 743}, {0xC0, 0xD6, 32}, 
	{0xD8, 0xDE, 32}, {0xDF, 0xDF, 7615}, {0xE0, 0xE4, -32}, {0xE5, 0xE5, 8262}, 
	{0xE6, 0xF6, -32}, {0xF8, 0xFE, -32}, {0xFF, 0xFF, 121}, {0x100, 0x100, 1}, 
	{0x101, 0x101, -1}, {0x102, 0x102, 1}, {0x103, 0x103, -1}, {0x104, 0x104, 1}, 
	{0x105, 0x105, -1}, {0x106, 0x106, 1}, {0x107, 0x107, -1}, {0x108, 0x108, 1}, 
	{0x109, 0x109, -1}, {0x10A, 0x10A, 1}, {0x10B, 0x10B, -1}, {0x10C, 0x10C, 1}, 
	{0x10D, 0x10D, -1}, {0x10E, 0x10E, 1}, {0x10F, 0x10F, -1}, {0x110, 0x110, 1}, 
	{0x111, 0x111, -1}, {0x112, 0x112, 1}, {0x113, 0x113, -1}, {0x114, 0x114, 1}, 
	{0x115, 0x115, -1}, {0x116, 0x116, 1}, {0x117, 0x117, -1}, {0x118, 0x118, 1}, 
	{0x119, 0x119, -1}, {0x11A, 0x11A, 1}, {0x11B, 0x11B, -1}, {0x11C, 0x11C, 1}, 
	{0x11D, 0x11D, -1}, {0x11E, 0x11E, 1}, {0x11F, 0x11F, -1}, {0x120, 0x120, 1}, 
	{0x121, 0x121, -1}, {0x122, 0x122, 1}, {0x123, 0x123, -1}, {0x124, 0x124, 1}, 
	{0x125, 0x125, -1}, {0x126, 0x126, 1}, {0x127, 0x127, -1}, {0x128, 0x128, 1}, 
	{0x129, 0x129, -1}, {0x12A, 0x12A, 1}, {0x12B, 0x12B, -1}, {0x12C, 0x12C, 1}, 
	{0x12D, 0x12D, -1}, {0x12E, 0x12E, 1}, {0x12F, 0x12F, -1}, {0x132, 0x132, 1}, 
	{0x133, 0x133, -1}, {0x134, 0x134, 1}, {0x135, 0x135, -1}, {0x136, 0x136, 1}, 
	{0x137, 0x137, -1}, {0x139, 0x139, 1}, {0x13A, 0x13A, -1}, {0x13B, 0x13B, 1}, 
	{0x13C, 0x13C, -1}, {0x13D, 0x13D, 1}, {0x13E, 0x13E, -1}, {0x13F, 0x13F, 1}, 
	{0x140, 0x140, -1}, {0x141, 0x141, 1}, {0x142, 0x142, -1}, {0x143, 0x143, 1}, 
	{0x144, 0x144, -1}, {0x145, 0x145, 1}, {0x146, 0x146, -1}, {0x147, 0x147, 1}, 
	{0x148, 0x148, -1}, {0x14A, 0x14A, 1}, {0x14B, 0x14B, -1}, {0x14C, 0x14C, 1}, 
	{0x14D, 0x14D, -1}, {0x14E, 0x14E, 1}, {0x14F, 0x14F, -1}, {0x150, 0x150, 1}, 
	{0x151, 0x151, -1}, {0x152, 0x152, 1}, {0x153, 0x153, -1}, {0x154, 0x154, 1}, 
	{0x155, 0x155, -1}, {0x156, 0x156, 1}, {0x157, 0x157, -1}, {0x158, 0x158, 1}, 
	{0x159, 0x159, -1}, {0x15A, 0x15A, 1}, {0x15B, 0x15B, -1}, {0x15C, 0x15C, 1}, 
	{0x15D, 0x15D, -1}, {0x15E, 0x15E, 1}, {0x15F, 0x15F, -1}, {0x160, 0x160, 1}, 
	{0x161, 0x161, -1}, {0x162, 0x162, 1}, {0x163, 0x163, -1}, {0x164, 0x164, 1}, 
	{0x165, 0x165, -1}, {0x166, 0x166, 1}, {0x167, 0x167, -1}, {0x168, 0x168, 1}, 
	{0x169, 0x169, -1}, {0x16A, 0x16A, 1}, {0x16B, 0x16B, -1}, {0x16C, 0x16C, 1}, 
	{0x16D, 0x16D, -1}, {0x16E, 0x16E, 1}, {0x16F, 0x16F, -1}, {0x170, 0x170, 1}, 
	{0x171, 0x171, -1}, {0x172, 0x172, 1}, {0x173, 0x173, -1}, {0x174, 0x174, 1}, 
	{0x175, 0x175, -1}, {0x176, 0x176, 1}, {0x177, 0x177, -1}, {0x178, 0x178, -121}, 
	{0x179, 0x179, 1}, {0x17A, 0x17A, -1}, {0x17B, 0x17B, 1}, {0x17C, 0x17C, -1}, 
	{0x17D, 0x17D, 1}, {0x17E, 0x17E, -1}, {0x17F, 0x17F, -300}, {0x180, 0x180, 195}, 
	{0x181, 0x181, 210}, {0x182, 0x182, 1}, {0x183, 0x183, -1}, {0x184, 0x184, 1}, 
	{0x185, 0x185, -1}, {0x186, 0x186, 206}, {0x187, 0x187, 1}, {0x188, 0x188, -1}, 
	{0x189, 0x18A, 205}, {0x18B, 0x18B, 1}, {0x18C, 0x18C, -1}, {0x18E, 0x18E, 79}, 
	{0x18F, 0x18F, 202}, {0x190, 0x190, 203}, {0x191, 0x191, 1}, {0x192, 0x192, -1}, 
	{0x193, 0x193, 205}, {0x194, 0x194, 207}, {0x195, 0x195, 97}, {0x196, 0x196, 211}, 
	{0x197, 0x197, 209}, {0x198, 0x198, 1}, {0x199, 0x199, -1}, {0x19A, 0x19A, 163}, 
	{0x19C, 0x19C, 211}, {0x19D, 0x19D, 213}, {0x19E, 0x19E, 130}, {0x19F, 0x19F, 214}, 
	{0x1A0, 0x1A0, 1}, {0x1A1, 0x1A1, -1}, {0x1A2, 0x1A2, 1}, {0x1A3, 0x1A3, -1}, 
	{0x1A4, 0x1A4, 1}, {0x1A5, 0x1A5, -1}, {0x1A6, 0x1A6, 218}, {0x1A7, 0x1A7, 1}, 
	{0x1A8, 0x1A8, -1}, {0x1A9, 0x1A9, 218}, {0x1AC, 0x1AC, 1}, {0x1AD, 0x1AD, -1}, 
	{0x1AE, 0x1AE, 218}, {0x1AF, 0x1AF, 1}, {0x1B0, 0x1B0, -1}, {0x1B1, 0x1B2, 217}, 
	{0x1B3, 0x1B3, 1}, {0x1B4, 0x1B4, -1}, {0x1B5, 0x1B5, 1}, {0x1B6, 0x1B6, -1}, 
	{0x1B7, 0x1B7, 219}, {0x1B8, 0x1B8, 1}, {0x1B9, 0x1B9, -1}, {0x1BC, 0x1BC, 1}, 
	{0x1BD, 0x1BD, -1}, {0x1BF, 0x1BF, 56}, {0x1C4, 0x1C5, 1}, {0x1C6, 0x1C6, -2}, 
	{0x1C7, 0x1C8, 1}, {0x1C9, 0x1C9, -2}, {0x1CA, 0x1CB, 1}, {0x1CC, 0x1CC, -2}, 
	{0x1CD, 0x1CD, 1}, {0x1CE, 0x1CE, -1}, {0x1CF, 0x1CF, 1}, {0x1D0, 0x1D0, -1}, 
	{0x1D1, 0x1D1, 1}, {0x1D2, 0x1D2, -1}, {0x1D3, 0x1D3, 1}, {0x1D4, 0x1D4, -1}, 
	{0x1D5, 0x1D5, 1}, {0x1D6, 0x1D6, -1}, {0x1D7, 0x1D7, 1}, {0x1D8, 0x1D8, -1}, 
	{0x1D9, 0x1D9, 1}, {0x1DA, 0x1DA, -1}, {0x1DB, 0x1DB, 1}, {0x1DC, 0x1DC, -1}, 
	{0x1DD, 0x1DD, -79}, {0x1DE, 0x1DE, 1}, {0x1DF, 0x1DF, -1}, {0x1E0, 0x1E0, 1}, 
	{0x1E1, 0x1E1, -1}, {0x1E2, 0x1E2, 1}, {0x1E3, 0x1E3, -1}, {0x1E4, 0x1E4, 1}, 
	{0x1E5, 0x1E5, -1}, {0x1E6, 0x1E6, 1}, {0x1E7, 0x1E7, -1}, {0x1E8, 0x1E8, 1}, 
	{0x1E9, 0x1E9, -1}, {0x1EA, 0x1EA, 1}, {0x1EB, 0x1EB, -1}, {0x1EC, 0x1EC, 1}, 
	{0x1ED, 0x1ED, -1}, {0x1EE, 0x1EE, 1}, {0x1EF, 0x1EF, -1}, {0x1F1, 0x1F2, 1}, 
	{0x1F3, 0x1F3, -2}, {0x1F4, 0x1F4, 1}, {0x1F5, 0x1F5, -1}, {0x1F6, 0x1F6, -97}, 
	{0x1F7, 0x1F7, -56}, {0x1F8, 0x1F8, 1}, {0x1F9, 0x1F9, -1}, {0x1FA, 0x1FA, 1}, 
	{0x1FB, 0x1FB, -1}, {0x1FC, 0x1FC, 1}, {0x1FD, 0x1FD, -1}, {0x1FE, 0x1FE, 1}, 
	{0x1FF, 0x1FF, -1}, {0x200, 0x200, 1}, {0x201, 0x201, -1}, {0x202, 0x202, 1}, 
	{0x203, 0x203, -1}, {0x204, 0x204, 1}, {0x205, 0x205, -1}, {0x206, 0x206, 1}, 
	{0x207, 0x207, -1}, {0x208, 0x208, 1}, {0x209, 0x209, -1}, {0x20A, 0x20A, 1}, 
	{0x20B, 0x20B, -1}, {0x20C, 0x20C, 1}, {0x20D, 0x20D, -1}, {0x20E, 0x20E, 1}, 
	{0x20F, 0x20F, -1}, {0x210, 0x210, 1}, {0x211, 0x211, -1}, {0x212, 0x212, 1}, 
	{0x213, 0x213, -1}, {0x214, 0x214, 1}, {0x215, 0x215, -1}, {0x216, 0x216, 1}, 
	{0x217, 0x217, -1}, {0x218, 0x218, 1}, {0x219, 0x219, -1}, {0x21A, 0x21A, 1}, 
	{0x21B, 0x21B, -1}, {0x21C, 0x21C, 1}, {0x21D, 0x21D, -1}, {0x21E, 0x21E, 1}, 
	{0x21F, 0x21F, -1}, {0x220, 0x220, -130}, {0x222, 0x222, 1}, {0x223, 0x223, -1}, 
	{0x224, 0x224, 1}, {0x225, 0x225, -1}, {0x226, 0x226, 1}, {0x227, 0x227, -1}, 
	{0x228, 0x228, 1}, {0x229, 0x229, -1}, {0x22A, 0x22A, 1}, {0x22B, 0x22B, -1}, 
	{0x22C, 0x22C, 1}, {0x22D, 0x22D, -1}, {0x22E, 0x22E, 1}, {0x22F, 0x22F, -1}, 
	{0x230, 0x230, 1}, {0x231, 0x231, -1}, {0x232, 0x232, 1}, {0x233, 0x233, -1}, 
	{0x23A, 0x23A, 10795}, {0x23B, 0x23B, 1}, {0x23C, 0x23C, -1}, {0x23D, 0x23D, -163}, 
	{0x23E, 0x23E, 10792}, {0x23F, 0x240, 10815}, {0x241, 0x241, 1}, {0x242, 0x242, -1}, 
	{0x243, 0x243, -195}, {0x244, 0x244, 69}, {0x245, 0x245, 71}, {0x246, 0x246, 1}, 
	{0x247, 0x247, -1}, {0x248, 0x248, 1}, {0x249, 0x249, -1}, {0x24A, 0x24A, 1}, 
	{0x24B, 0x24B, -1}, {0x24C, 0x24C, 1}, {0x24D, 0x24D, -1}, {0x24E, 0x24E, 1}, 
	{0x24F, 0x24F, -1}, {0x250, 0x250, 10783}, {0x251, 0x251, 10780}, {0x252, 0x252, 10782}, 
	{0x253, 0x253, -210}, {0x254, 0x254, -206}, {0x256, 0x257, -205}, {0x259, 0x259, -202}, 
	{0x25B, 0x25B, -203}, {0x25C, 0x25C, 42319}, {0x260, 0x260, -205}, {0x261, 0x261, 42315}, 
	{0x263, 0x263, -207}, {0x265, 0x265, 42280}, {0x266, 0x266, 42308}, {0x268, 0x268, -209}, 
	{0x269, 0x269, -211}, {0x26A, 0x26A, 42308}, {0x26B, 0x26B, 10743}, {0x26C, 0x26C, 42305}, 
	{0x26F, 0x26F, -211}, {0x271, 0x271, 10749}, {0x272, 0x272, -213}, {0x275, 0x275, -214}, 
	{0x27D, 0x27D, 10727}, {0x280, 0x280, -218}, {0x282, 0x282, 42307}, {0x283, 0x283, -218}, 
	{0x287, 0x287, 42282}, {0x288, 0x288, -218}, {0x289, 0x289, -69}, {0x28A, 0x28B, -217}, 
	{0x28C, 0x28C, -71}, {0x292, 0x292, -219}, {0x29D, 0x29D, 42261}, {0x29E, 0x29E, 42258}, 
	{0x345, 0x345, 84}, {0x370, 0x370, 1}, {0x371, 0x371, -1}, {0x372, 0x372, 1}, 
	{0x373, 0x373, -1}, {0x376, 0x376, 1}, {0x377, 0x377, -1}, {0x37B, 0x37D, 130}, 
	{0x37F, 0x37F, 116}, {0x386, 0x386, 38}, {0x388, 0x38A, 37}, {0x38C, 0x38C, 64}, 
	{0x38E, 0x38F, 63}, {0x391, 0x3A1, 32}, {0x3A3, 0x3A3, 31}, {0x3A4, 0x3AB, 32}, 
	{0x3AC, 0x3AC, -38}, {0x3AD, 0x3AF, -37}, {0x3B1, 0x3B1, -32}, {0x3B2, 0x3B2, 30}, 
	{0x3B3, 0x3B4, -32}, {0x3B5, 0x3B5, 64}, {0x3B6, 0x3B7, -32}, {0x3B8, 0x3B8, 25}, 
	{0x3B9, 0x3B9, 7173}, {0x3BA, 0x3BA, 54}, {0x3BB, 0x3BB, -32}, {0x3BC, 0x3BC, -775}, 
	{0x3BD, 0x3BF, -32}, {0x3C0, 0x3C0, 22}, {0x3C1, 0x3C1, 48}, {0x3C2, 0x3C2, 1}, 
	{0x3C3, 0x3C5, -32}, {0x3C6, 0x3C6, 15}, {0x3C7, 0x3C8, -32}, {0x3C9, 0x3C9, 7517}, 
	{0x3CA, 0x3CB, -32}, {0x3CC, 0x3CC, -64}, {0x3CD, 0x3CE, -63}, {0x3CF, 0x3CF, 8}, 
	{0x3D0, 0x3D0, -62}, {0x3D1, 0x3D1, 35}, {0x3D5, 0x3D5, -47}, {0x3D6, 0x3D6, -54}, 
	{0x3D7, 0x3D7, -8}, {0x3D8, 0x3D8, 1}, {0x3D9, 0x3D9, -1}, {0x3DA, 0x3DA, 1}, 
	{0x3DB, 0x3DB, -1}, {0x3DC, 0x3DC, 1}, {0x3DD, 0x3DD, -1}, {0x3DE, 0x3DE, 1}, 
	{0x3DF, 0x3DF, -1}, {0x3E0, 0x3E0, 1}, {0x3E1, 0x3E1, -1}, {0x3E2, 0x3E2, 1}, 
	{0x3E3, 0x3E3, -1}, {0x3E4, 0x3E4, 1}, {0x3E5, 0x3E5, -1}, {0x3E6, 0x3E6, 1}, 
	{0x3E7, 0x3E7, -1}, {0x3E8, 0x3E8, 1}, {0x3E9, 0x3E9, -1}, {0x3EA, 0x3EA, 1}, 
	{0x3EB, 0x3EB, -1}, {0x3EC, 0x3EC, 1}, {0x3ED, 0x3ED, -1}, {0x3EE, 0x3EE, 1}, 
	{0x3EF, 0x3EF, -1}, {0x3F0, 0x3F0, -86}, {0x3F1, 0x3F1, -80}, {0x3F2, 0x3F2, 7}, 
	{0x3F3, 0x3F3, -116}, {0x3F4, 0x3F4, -92}, {0x3F5, 0x3F5, -96}, {0x3F7, 0x3F7, 1}, 
	{0x3F8, 0x3F8, -1}, {0x3F9, 0x3F9, -7}, {0x3FA, 0x3FA, 1}, {0x3FB, 0x3FB, -1}, 
	{0x3FD, 0x3FF, -130}, {0x400, 0x40F, 80}, {0x410, 0x42F, 32}, {0x430, 0x431, -32}, 
	{0x432, 0x432, 6222}, {0x433, 0x433, -32}, {0x434, 0x434, 6221}, {0x435, 0x43D, -32}, 
	{0x43E, 0x43E, 6212}, {0x43F, 0x440, -32}, {0x441, 0x442, 6210}, {0x443, 0x449, -32}, 
	{0x44A, 0x44A, 6204}, {0x44B, 0x44F, -32}, {0x450, 0x45F, -80}, {0x460, 0x460, 1}, 
	{0x461, 0x461, -1}, {0x462, 0x462, 1}, {0x463, 0x463, 6180}, {0x464, 0x464, 1}, 
	{0x465, 0x465, -1}, {0x466, 0x466, 1}, {0x467, 0x467, -1}, {0x468, 0x468, 1}, 
	{0x469, 0x469, -1}, {0x46A, 0x46A, 1}, {0x46B, 0x46B, -1}, {0x46C, 0x46C, 1}, 
	{0x46D, 0x46D, -1}, {0x46E, 0x46E, 1}, {0x46F, 0x46F, -1}, {0x470, 0x470, 1}, 
	{0x471, 0x471, -1}, {0x472, 0x472, 1}, {0x473, 0x473, -1}, {0x474, 0x474, 1}, 
	{0x475, 0x475, -1}, {0x476, 0x476, 1}, {0x477, 0x477, -1}, {0x478, 0x478, 1}, 
	{0x479, 0x479, -1}, {0x47A, 0x47A, 1}, {0x47B, 0x47B, -1}, {0x47C, 0x47C, 1}, 
	{0x47D, 0x47D, -1}, {0x47E, 0x47E, 1}, {0x47F, 0x47F, -1}, {0x480, 0x480, 1}, 
	{0x481, 0x481, -1}, {0x48A, 0x48A, 1}, {0x48B, 0x48B, -1}, {0x48C, 0x48C, 1}, 
	{0x48D, 0x48D, -1}, {0x48E, 0x48E, 1}, {0x48F, 0x48F, -1}, {0x490, 0x490, 1}, 
	{0x491, 0x491, -1}, {0x492, 0x492, 1}, {0x493, 0x493, -1}, {0x494, 0x494, 1}, 
	{0x495, 0x495, -1}, {0x496, 0x496, 1}, {0x497, 0x497, -1}, {0x498, 0x498, 1}, 
	{0x499, 0x499, -1}, {0x49A, 0x49A, 1}, {0x49B, 0x49B, -1}, {0x49C, 0x49C, 1}, 
	{0x49D, 0x49D, -1}, {0x49E, 0x49E, 1}, {0x49F, 0x49F, -1}, {0x4A0, 0x4A0, 1}, 
	{0x4A1, 0x4A1, -1}, {0x4A2, 0x4A2, 1}, {0x4A3, 0x4A3, -1}, {0x4A4, 0x4A4, 1}, 
	{0x4A5, 0x4A5, -1}, {0x4A6, 0x4A6, 1}, {0x4A7, 0x4A7, -1}, {0x4A8, 0x4A8, 1}, 
	{0x4A9, 0x4A9, -1}, {0x4AA, 0x4AA, 1}, {0x4AB, 0x4AB, -1}, {0x4AC, 0x4AC, 1}, 
	{0x4AD, 0x4AD, -1}, {0x4AE, 0x4AE, 1}, {0x4AF, 0x4AF, -1}, {0x4B0, 0x4B0, 1}, 
	{0x4B1, 0x4B1, -1}, {0x4B2, 0x4B2, 1}, {0x4B3, 0x4B3, -1}, {0x4B4, 0x4B4, 1}, 
	{0x4B5, 0x4B5, -1}, {0x4B6, 0x4B6, 1}, {0x4B7, 0x4B7, -1}, {0x4B8, 0x4B8, 1}, 
	{0x4B9, 0x4B9, -1}, {0x4BA, 0x4BA, 1}, {0x4BB, 0x4BB, -1}, {0x4BC, 0x4BC, 1}, 
	{0x4BD, 0x4BD, -1}, {0x4BE, 0x4BE, 1}, {0x4BF, 0x4BF, -1}, {0x4C0, 0x4C0, 15}, 
	{0x4C1, 0x4C1, 1}, {0x4C2, 0x4C2, -1}, {0x4C3, 0x4C3, 1}, {0x4C4, 0x4C4, -1}, 
	{0x4C5, 0x4C5, 1}, {0x4C6, 0x4C6, -1}, {0x4C7, 0x4C7, 1}, {0x4C8, 0x4C8, -1}, 
	{0x4C9, 0x4C9, 1}, {0x4CA, 0x4CA, -1}, {0x4CB, 0x4CB, 1}, {0x4CC, 0x4CC, -1}, 
	{0x4CD, 0x4CD, 1}, {0x4CE, 0x4CE, -1}, {0x4CF, 0x4CF, -15}, {0x4D0, 0x4D0, 1}, 
	{0x4D1, 0x4D1, -1}, {0x4D2, 0x4D2, 1}, {0x4D3, 0x4D3, -1}, {0x4D4, 0x4D4, 1}, 
	{0x4D5, 0x4D5, -1}, {0x4D6, 0x4D6, 1}, {0x4D7, 0x4D7, -1}, {0x4D8, 0x4D8, 1}, 
	{0x4D9, 0x4D9, -1}, {0x4DA, 0x4DA, 1}, {0x4DB, 0x4DB, -1}, {0x4DC, 0x4DC, 1}, 
	{0x4DD, 0x4DD, -1}, {0x4DE, 0x4DE, 1}, {0x4DF, 0x4DF, -1}, {0x4E0, 0x4E0, 1}, 
	{0x4E1, 0x4E1, -1}, {0x4E2, 0x4E2, 1}, {0x4E3, 0x4E3, -1}, {0x4E4, 0x4E4, 1}, 
	{0x4E5, 0x4E5, -1}, {0x4E6, 0x4E6, 1}, {0x4E7, 0x4E7, -1}, {0x4E8, 0x4E8, 1}, 
	{0x4E9, 0x4E9, -1}, {0x4EA, 0x4EA, 1}, {0x4EB, 0x4EB, -1}, {0x4EC, 0x4EC, 1}, 
	{0x4ED, 0x4ED, -1}, {0x4EE, 0x4EE, 1}, {0x4EF, 0x4EF, -1}, {0x4F0, 0x4F0, 1}, 
	{0x4F1, 0x4F1, -1}, {0x4F2, 0x4F2, 1}, {0x4F3, 0x4F3, -1}, {0x4F4, 0x4F4, 1}, 
	{0x4F5, 0x4F5, -1}, {0x4F6, 0x4F6, 1}, {0x4F7, 0x4F7, -1}, {0x4F8, 0x4F8, 1}, 
	{0x4F9, 0x4F9, -1}, {0x4FA, 0x4FA, 1}, {0x4FB, 0x4FB, -1}, {0x4FC, 0x4FC, 1}, 
	{0x4FD, 0x4FD, -1}, {0x4FE, 0x4FE, 1}, {0x4FF, 0x4FF, -1}, {0x500, 0x500, 1}, 
	{0x501, 0x501, -1}, {0x502, 0x502, 1}, {0x503, 0x503, -1}, {0x504, 0x504, 1}, 
	{0x505, 0x505, -1}, {0x506, 0x506, 1}, {0x507, 0x507, -1}, {0x508, 0x508, 1}, 
	{0x509, 0x509, -1}, {0x50A, 0x50A, 1}, {0x50B, 0x50B, -1}, {0x50C, 0x50C, 1}, 
	{0x50D, 0x50D, -1}, {0x50E, 0x50E, 1}, {0x50F, 0x50F, -1}, {0x510, 0x510, 1}, 
	{0x511, 0x511, -1}, {0x512, 0x512, 1}, {0x513, 0x513, -1}, {0x514, 0x514, 1}, 
	{0x515, 0x515, -1}, {0x516, 0x516, 1}, {0x517, 0x517, -1}, {0x518, 0x518, 1}, 
	{0x519, 0x519, -1}, {0x51A, 0x51A, 1}, {0x51B, 0x51B, -1}, {0x51C, 0x51C, 1}, 
	{0x51D, 0x51D, -1}, {0x51E, 0x51E, 1}, {0x51F, 0x51F, -1}, {0x520, 0x520, 1}, 
	{0x521, 0x521, -1}, {0x522, 0x522, 1}, {0x523, 0x523, -1}, {0x524, 0x524, 1}, 
	{0x525, 0x525, -1}, {0x526, 0x526, 1}, {0x527, 0x527, -1}, {0x528, 0x528, 1}, 
	{0x529, 0x529, -1}, {0x52A, 0x52A, 1}, {0x52B, 0x52B, -1}, {0x52C, 0x52C, 1}, 
	{0x52D, 0x52D, -1}, {0x52E, 0x52E, 1}, {0x52F, 0x52F, -1}, {0x531, 0x556, 48}, 
	{0x561, 0x586, -48}, {0x10A0, 0x10C5, 7264}, {0x10C7, 0x10C7, 7264}, {0x10CD, 0x10CD, 7264}, 
	{0x10D0, 0x10FA, 3008}, {0x10FD, 0x10FF, 3008}, {0x13A0, 0x13EF, 38864}, {0x13F0, 0x13F5, 8}, 
	{0x13F8, 0x13FD, -8}, {0x1C80, 0x1C80, -6254}, {0x1C81, 0x1C81, -6253}, {0x1C82, 0x1C82, -6244}, 
	{0x1C83, 0x1C83, -6242}, {0x1C84, 0x1C84, 1}, {0x1C85, 0x1C85, -6243}, {0x1C86, 0x1C86, -6236}, 
	{0x1C87, 0x1C87, -6181}, {0x1C88, 0x1C88, 35266}, {0x1C90, 0x1CBA, -3008}, {0x1CBD, 0x1CBF, -3008}, 
	{0x1D79, 0x1D79, 35332}, {0x1D7D, 0x1D7D, 3814}, {0x1D8E, 0x1D8E, 35384}, {0x1E00, 0x1E00, 1}, 
	{0x1E01, 0x1E01, -1}, {0x1E02, 0x1E02, 1}, {0x1E03, 0x1E03, -1}, {0x1E04, 0x1E04, 1}, 
	{0x1E05, 0x1E05, -1}, {0x1E06, 0x1E06, 1}, {0x1E07, 0x1E07, -1}, {0x1E08, 0x1E08, 1}, 
	{0x1E09, 0x1E09, -1}, {0x1E0A, 0x1E0A, 1}, {0x1E0B, 0x1E0B, -1}, {0x1E0C, 0x1E0C, 1}, 
	{0x1E0D, 0x1E0D, -1}, {0x1E0E, 0x1E0E, 1}, {0x1E0F, 0x1E0F, -1}, {0x1E10, 0x1E10, 1}, 
	{0x1E11, 0x1E11, -1}, {0x1E12, 0x1E12, 1}, {0x1E13, 0x1E13, -1}, {0x1E14, 0x1E14, 1}, 
	{0x1E15, 0x1E15, -1}, {0x1E16, 0x1E16, 1}, {0x1E17, 0x1E17, -1}, {0x1E18, 0x1E18, 1}, 
	{0x1E19, 0x1E19, -1}, {0x1E1A, 0x1E1A, 1}, {0x1E1B, 0x1E1B, -1}, {0x1E1C, 0x1E1C, 1}, 
	{0x1E1D, 0x1E1D, -1}, {0x1E1E, 0x1E1E, 1}, {0x1E1F, 0x1E1F, -1}, {0x1E20, 0x1E20, 1}, 
	{0x1E21, 0x1E21, -1}, {0x1E22, 0x1E22, 1}, {0x1E23, 0x1E23, -1}, {0x1E24, 0x1E24, 1}, 
	{0x1E25, 0x1E25, -1}, {0x1E26, 0x1E26, 1}, {0x1E27, 0x1E27, -1}, {0x1E28, 0x1E28, 1}, 
	{0x1E29, 0x1E29, -1}, {0x1E2A, 0x1E2A, 1}, {0x1E2B, 0x1E2B, -1}, {0x1E2C, 0x1E2C, 1}, 
	{0x1E2D, 0x1E2D, -1}, {0x1E2E, 0x1E2E, 1}, {0x1E2F, 0x1E2F, -1}, {0x1E30, 0x1E30, 1}, 
	{0x1E31, 0x1E31, -1}, {0x1E32, 0x1E32, 1}, {0x1E33, 0x1E33, -1}, {0x1E34, 0x1E34, 1}, 
	{0x1E35, 0x1E35, -1}, {0x1E36, 0x1E36, 1}, {0x1E37, 0x1E37, -1}, {0x1E38, 0x1E38, 1}, 
	{0x1E39, 0x1E39, -1}, {0x1E3A, 0x1E3A, 1}, {0x1E3B, 0x1E3B, -1}, {0x1E3C, 0x1E3C, 1}, 
	{0x1E3D, 0x1E3D, -1}, {0x1E3E, 0x1E3E, 1}, {0x1E3F, 0x1E3F, -1}, {0x1E40, 0x1E40, 1}, 
	{0x1E41, 0x1E41, -1}, {0x1E42, 0x1E42, 1}, {0x1E43, 0x1E43, -1}, {0x1E44, 0x1E44, 1}, 
	{0x1E45, 0x1E45, -1}, {0x1E46, 0x1E46, 1}, {0x1E47, 0x1E47, -1}, {0x1E48, 0x1E48, 1}, 
	{0x1E49, 0x1E49, -1}, {0x1E4A, 0x1E4A, 1}, {0x1E4B, 0x1E4B, -1}, {0x1E4C, 0x1E4C, 1}, 
	{0x1E4D, 0x1E4D, -1}, {0x1E4E, 0x1E4E, 1}, {0x1E4F, 0x1E4F, -1}, {0x1E50, 0x1E50, 1}, 
	{0x1E51, 0x1E51, -1}, {0x1E52, 0x1E52, 1}, {0x1E53, 0x1E53, -1}, {0x1E54, 0x1E54, 1}, 
	{0x1E55, 0x1E55, -1}, {0x1E56, 0x1E56, 1}, {0x1E57, 0x1E57, -1}, {0x1E58, 0x1E58, 1}, 
	{0x1E59, 0x1E59, -1}, {0x1E5A, 0x1E5A, 1}, {0x1E5B, 0x1E5B, -1}, {0x1E5C, 0x1E5C, 1}, 
	{0x1E5D, 0x1E5D, -1}, {0x1E5E, 0x1E5E, 1}, {0x1E5F, 0x1E5F, -1}, {0x1E60, 0x1E60, 1}, 
	{0x1E61, 0x1E61, 58}, {0x1E62, 0x1E62, 1}, {0x1E63, 0x1E63, -1}, {0x1E64, 0x1E64, 1}, 
	{0x1E65, 0x1E65, -1}, {0x1E66, 0x1E66, 1}, {0x1E67, 0x1E67, -1}, {0x1E68, 0x1E68, 1}, 
	{0x1E69, 0x1E69, -1}, {0x1E6A, 0x1E6A, 1}, {0x1E6B, 0x1E6B, -1}, {0x1E6C, 0x1E6C, 1}, 
	{0x1E6D, 0x1E6D, -1}, {0x1E6E, 0x1E6E, 1}, {0x1E6F, 0x1E6F, -1}, {0x1E70, 0x1E70, 1}, 
	{0x1E71, 0x1E71, -1}, {0x1E72, 0x1E72, 1}, {0x1E73, 0x1E73, -1}, {0x1E74, 0x1E74, 1}, 
	{0x1E75, 0x1E75, -1}, {0x1E76, 0x1E76, 1}, {0x1E77, 0x1E77, -1}, {0x1E78, 0x1E78, 1}, 
	{0x1E79, 0x1E79, -1}, {0x1E7A, 0x1E7A, 1}, {0x1E7B, 0x1E7B, -1}, {0x1E7C, 0x1E7C, 1}, 
	{0x1E7D, 0x1E7D, -1}, {0x1E7E, 0x1E7E, 1}, {0x1E7F, 0x1E7F, -1}, {0x1E80, 0x1E80, 1}, 
	{0x1E81, 0x1E81, -1}, {0x1E82, 0x1E82, 1}, {0x1E83, 0x1E83, -1}, {0x1E84, 0x1E84, 1}, 
	{0x1E85, 0x1E85, -1}, {0x1E86, 0x1E86, 1}, {0x1E87, 0x1E87, -1}, {0x1E88, 0x1E88, 1}, 
	{0x1E89, 0x1E89, -1}, {0x1E8A, 0x1E8A, 1}, {0x1E8B, 0x1E8B, -1}, {0x1E8C, 0x1E8C, 1}, 
	{0x1E8D, 0x1E8D, -1}, {0x1E8E, 0x1E8E, 1}, {0x1E8F, 0x1E8F, -1}, {0x1E90, 0x1E90, 1}, 
	{0x1E91, 0x1E91, -1}, {0x1E92, 0x1E92, 1}, {0x1E93, 0x1E93, -1}, {0x1E94, 0x1E94, 1}, 
	{0x1E95, 0x1E95, -1}, {0x1E9B, 0x1E9B, -59}, {0x1E9E, 0x1E9E, -7615}, {0x1EA0, 0x1EA0, 1}, 
	{0x1EA1, 0x1EA1, -1}, {0x1EA2, 0x1EA2, 1}, {0x1EA3, 0x1EA3, -1}, {0x1EA4, 0x1EA4, 1}, 
	{0x1EA5, 0x1EA5, -1}, {0x1EA6, 0x1EA6, 1}, {0x1EA7, 0x1EA7, -1}, {0x1EA8, 0x1EA8, 1}, 
	{0x1EA9, 0x1EA9, -1}, {0x1EAA, 0x1EAA, 1}, {0x1EAB, 0x1EAB, -1}, {0x1EAC, 0x1EAC, 1}, 
	{0x1EAD, 0x1EAD, -1}, {0x1EAE, 0x1EAE, 1}, {0x1EAF, 0x1EAF, -1}, {0x1EB0, 0x1EB0, 1}, 
	{0x1EB1, 0x1EB1, -1}, {0x1EB2, 0x1EB2, 1}, {0x1EB3, 0x1EB3, -1}, {0x1EB4, 0x1EB4, 1}, 
	{0x1EB5, 0x1EB5, -1}, {0x1EB6, 0x1EB6, 1}, {0x1EB7, 0x1EB7, -1}, {0x1EB8, 0x1EB8, 1}, 
	{0x1EB9, 0x1EB9, -1}, {0x1EBA, 0x1EBA, 1}, {0x1EBB, 0x1EBB, -1}, {0x1EBC, 0x1EBC, 1}, 
	{0x1EBD, 0x1EBD, -1}, {0x1EBE, 0x1EBE, 1}, {0x1EBF, 0x1EBF, -1}, {0x1EC0, 0x1EC0, 1}, 
	{0x1EC1, 0x1EC1, -1}, {0x1EC2, 0x1EC2, 1}, {0x1EC3, 0x1EC3, -1}, {0x1EC4, 0x1EC4, 1}, 
	{0x1EC5, 0x1EC5, -1}, {0x1EC6, 0x1EC6, 1}, {0x1EC7, 0x1EC7, -1}, {0x1EC8, 0x1EC8, 1}, 
	{0x1EC9, 0x1EC9, -1}, {0x1ECA, 0x1ECA, 1}, {0x1ECB, 0x1ECB, -1}, {0x1ECC, 0x1ECC, 1}, 
	{0x1ECD, 0x1ECD, -1}, {0x1ECE, 0x1ECE, 1}, {0x1ECF, 0x1ECF, -1}, {0x1ED0, 0x1ED0, 1}, 
	{0x1ED1, 0x1ED1, -1}, {0x1ED2, 0x1ED2, 1}, {0x1ED3, 0x1ED3, -1}, {0x1ED4, 0x1ED4, 1}, 
	{0x1ED5, 0x1ED5, -1}, {0x1ED6, 0x1ED6, 1}, {0x1ED7, 0x1ED7, -1}, {0x1ED8, 0x1ED8, 1}, 
	{0x1ED9, 0x1ED9, -1}, {0x1EDA, 0x1EDA, 1}, {0x1EDB, 0x1EDB, -1}, {0x1EDC, 0x1EDC, 1}, 
	{0x1EDD, 0x1EDD, -1}, {0x1EDE, 0x1EDE, 1}, {0x1EDF, 0x1EDF, -1}, {0x1EE0, 0x1EE0, 1}, 
	{0x1EE1, 0x1EE1, -1}, {0x1EE2, 0x1EE2, 1}, {0x1EE3, 0x1EE3, -1}, {0x1EE4, 0x1EE4, 1}, 
	{0x1EE5, 0x1EE5, -1}, {0x1EE6, 0x1EE6, 1}, {0x1EE7, 0x1EE7, -1}, {0x1EE8, 0x1EE8, 1}, 
	{0x1EE9, 0x1EE9, -1}, {0x1EEA, 0x1EEA, 1}, {0x1EEB, 0x1EEB, -1}, {0x1EEC, 0x1EEC, 1}, 
	{0x1EED, 0x1EED, -1}, {0x1EEE, 0x1EEE, 1}, {0x1EEF, 0x1EEF, -1}, {0x1EF0, 0x1EF0, 1}, 
	{0x1EF1, 0x1EF1, -1}, {0x1EF2, 0x1EF2, 1}, {0x1EF3, 0x1EF3, -1}, {0x1EF4, 0x1EF4, 1}, 
	{0x1EF5, 0x1EF5, -1}, {0x1EF6, 0x1EF6, 1}, {0x1EF7, 0x1EF7, -1}, {0x1EF8, 0x1EF8, 1}, 
	{0x1EF9, 0x1EF9, -1}, {0x1EFA, 0x1EFA, 1}, {0x1EFB, 0x1EFB, -1}, {0x1EFC, 0x1EFC, 1}, 
	{0x1EFD, 0x1EFD, -1}, {0x1EFE, 0x1EFE, 1}, {0x1EFF, 0x1EFF, -1}, {0x1F00, 0x1F07, 8}, 
	{0x1F08, 0x1F0F, -8}, {0x1F10, 0x1F15, 8}, {0x1F18, 0x1F1D, -8}, {0x1F20, 0x1F27, 8}, 
	{0x1F28, 0x1F2F, -8}, {0x1F30, 0x1F37, 8}, {0x1F38, 0x1F3F, -8}, {0x1F40, 0x1F45, 8}, 
	{0x1F48, 0x1F4D, -8}, {0x1F51, 0x1F51, 8}, {0x1F53, 0x1F53, 8}, {0x1F55, 0x1F55, 8}, 
	{0x1F57, 0x1F57, 8}, {0x1F59, 0x1F59, -8}, {0x1F5B, 0x1F5B, -8}, {0x1F5D, 0x1F5D, -8}, 
	{0x1F5F, 0x1F5F, -8}, {0x1F60, 0x1F67, 8}, {0x1F68, 0x1F6F, -8}, {0x1F70, 0x1F71, 74}, 
	{0x1F72, 0x1F75, 86}, {0x1F76, 0x1F77, 100}, {0x1F78, 0x1F79, 128}, {0x1F7A, 0x1F7B, 112}, 
	{0x1F7C, 0x1F7D, 126}, {0x1F80, 0x1F87, 8}, {0x1F88, 0x1F8F, -8}, {0x1F90, 0x1F97, 8}, 
	{0x1F98, 0x1F9F, -8}, {0x1FA0, 0x1FA7, 8}, {0x1FA8, 0x1FAF, -8}, {0x1FB0, 0x1FB1, 8}, 
	{0x1FB3, 0x1FB3, 9}, {0x1FB8, 0x1FB9, -8}, {0x1FBA, 0x1FBB, -74}, {0x1FBC, 0x1FBC, -9}, 
	{0x1FBE, 0x1FBE, -7289}, {0x1FC3, 0x1FC3, 9}, {0x1FC8, 0x1FCB, -86}, {0x1FCC, 0x1FCC, -9}, 
	{0x1FD0, 0x1FD1, 8}, {0x1FD8, 0x1FD9, -8}, {0x1FDA, 0x1FDB, -100}, {0x1FE0, 0x1FE1, 8}, 
	{0x1FE5, 0x1FE5, 7}, {0x1FE8, 0x1FE9, -8}, {0x1FEA, 0x1FEB, -112}, {0x1FEC, 0x1FEC, -7}, 
	{0x1FF3, 0x1FF3, 9}, {0x1FF8, 0x1FF9, -128}, {0x1FFA, 0x1FFB, -126}, {0x1FFC, 0x1FFC, -9}, 
	{0x2126, 0x2126, -7549}, {0x212A, 0x212A, -8415}, {0x212B, 0x212B, -8294}, {0x2132, 0x2132, 28}, 
	{0x214E, 0x214E, -28}, {0x2160, 0x216F, 16}, {0x2170, 0x217F, -16}, {0x2183, 0x2183, 1}, 
	{0x2184, 0x2184, -1}, {0x24B6, 0x24CF, 26}, {0x24D0, 0x24E9, -26}, {0x2C00, 0x2C2F, 48}, 
	{0x2C30, 0x2C5F, -48}, {0x2C60, 0x2C60, 1}, {0x2C61, 0x2C61, -1}, {0x2C62, 0x2C62, -10743}, 
	{0x2C63, 0x2C63, -3814}, {0x2C64, 0x2C64, -10727}, {0x2C65, 0x2C65, -10795}, {0x2C66, 0x2C66, -10792}, 
	{0x2C67, 0x2C67, 1}, {0x2C68, 0x2C68, -1}, {0x2C69, 0x2C69, 1}, {0x2C6A, 0x2C6A, -1}, 
	{0x2C6B, 0x2C6B, 1}, {0x2C6C, 0x2C6C, -1}, {0x2C6D, 0x2C6D, -10780}, {0x2C6E, 0x2C6E, -10749}, 
	{0x2C6F, 0x2C6F, -10783}, {0x2C70, 0x2C70, -10782}, {0x2C72, 0x2C72, 1}, {0x2C73, 0x2C73, -1}, 
	{0x2C75, 0x2C75, 1}, {0x2C76, 0x2C76, -1}, {0x2C7E, 0x2C7F, -10815}, {0x2C80, 0x2C80, 1}, 
	{0x2C81, 0x2C81, -1}, {0x2C82, 0x2C82, 1}, {0x2C83, 0x2C83, -1}, {0x2C84, 0x2C84, 1}, 
	{0x2C85, 0x2C85, -1}, {0x2C86, 0x2C86, 1}, {0x2C87, 0x2C87, -1}, {0x2C88, 0x2C88, 1}, 
	{0x2C89, 0x2C89, -1}, {0x2C8A, 0x2C8A, 1}, {0x2C8B, 0x2C8B, -1}, {0x2C8C, 0x2C8C, 1}, 
	{0x2C8D, 0x2C8D, -1}, {0x2C8E, 0x2C8E, 1}, {0x2C8F, 0x2C8F, -1}, {0x2C90, 0x2C90, 1}, 
	{0x2C91, 0x2C91, -1}, {0x2C92, 0x2C92, 1}, {0x2C93, 0x2C93, -1}, {0x2C94, 0x2C94, 1}, 
	{0x2C95, 0x2C95, -1}, {0x2C96, 0x2C96, 1}, {0x2C97, 0x2C97, -1}, {0x2C98, 0x2C98, 1}, 
	{0x2C99, 0x2C99, -1}, {0x2C9A, 0x2C9A, 1}, {0x2C9B, 0x2C9B, -1}, {0x2C9C, 0x2C9C, 1}, 
	{0x2C9D, 0x2C9D, -1}, {0x2C9E, 0x2C9E, 1}, {0x2C9F, 0x2C9F, -1}, {0x2CA0, 0x2CA0, 1}, 
	{0x2CA1, 0x2CA1, -1}, {0x2CA2, 0x2CA2, 1}, {0x2CA3, 0x2CA3, -1}, {0x2CA4, 0x2CA4, 1}, 
	{0x2CA5, 0x2CA5, -1}, {0x2CA6, 0x2CA6, 1}, {0x2CA7, 0x2CA7, -1}, {0x2CA8, 0x2CA8, 1}, 
	{0x2CA9, 0x2CA9, -1}, {0x2CAA, 0x2CAA, 1}, {0x2CAB, 0x2CAB, -1}, {0x2CAC, 0x2CAC, 1}, 
	{0x2CAD, 0x2CAD, -1}, {0x2CAE, 0x2CAE, 1}, {0x2CAF, 0x2CAF, -1}, {0x2CB0, 0x2CB0, 1}, 
	{0x2CB1, 0x2CB1, -1}, {0x2CB2, 0x2CB2, 1}, {0x2CB3, 0x2CB3, -1}, {0x2CB4, 0x2CB4, 1}, 
	{0x2CB5, 0x2CB5, -1}, {0x2CB6, 0x2CB6, 1}, {0x2CB7, 0x2CB7, -1}, {0x2CB8, 0x2CB8, 1}, 
	{0x2CB9, 0x2CB9, -1}, {0x2CBA, 0x2CBA, 1}, {0x2CBB, 0x2CBB, -1}, {0x2CBC, 0x2CBC, 1}, 
	{0x2CBD, 0x2CBD, -1}, {0x2CBE, 0x2CBE, 1}, {0x2CBF, 0x2CBF, -1}, {0x2CC0, 0x2CC0, 1}, 
	{0x2CC1, 0x2CC1, -1}, {0x2CC2, 0x2CC2, 1}, {0x2CC3, 0x2CC3, -1}, {0x2CC4, 0x2CC4, 1}, 
	{0x2CC5, 0x2CC5, -1}, {0x2CC6, 0x2CC6, 1}, {0x2CC7, 0x2CC7, -1}, {0x2CC8, 0x2CC8, 1}, 
	{0x2CC9, 0x2CC9, -1}, {0x2CCA, 0x2CCA, 1}, {0x2CCB, 0x2CCB, -1}, {0x2CCC, 0x2CCC, 1}, 
	{0x2CCD, 0x2CCD, -1}, {0x2CCE, 0x2CCE, 1}, {0x2CCF, 0x2CCF, -1}, {0x2CD0, 0x2CD0, 1}, 
	{0x2CD1, 0x2CD1, -1}, {0x2CD2, 0x2CD2, 1}, {0x2CD3, 0x2CD3, -1}, {0x2CD4, 0x2CD4, 1}, 
	{0x2CD5, 0x2CD5, -1}, {0x2CD6, 0x2CD6, 1}, {0x2CD7, 0x2CD7, -1}, {0x2CD8, 0x2CD8, 1}, 
	{0x2CD9, 0x2CD9, -1}, {0x2CDA, 0x2CDA, 1}, {0x2CDB, 0x2CDB, -1}, {0x2CDC, 0x2CDC, 1}, 
	{0x2CDD, 0x2CDD, -1}, {0x2CDE, 0x2CDE, 1}, {0x2CDF, 0x2CDF, -1}, {0x2CE0, 0x2CE0, 1}, 
	{0x2CE1, 0x2CE1, -1}, {0x2CE2, 0x2CE2, 1}, {0x2CE3, 0x2CE3, -1}, {0x2CEB, 0x2CEB, 1}, 
	{0x2CEC, 0x2CEC, -1}, {0x2CED, 0x2CED, 1}, {0x2CEE, 0x2CEE, -1}, {0x2CF2, 0x2CF2, 1}, 
	{0x2CF3, 0x2CF3, -1}, {0x2D00, 0x2D25, -7264}, {0x2D27, 0x2D27, -7264}, {0x2D2D, 0x2D2D, -7264}, 
	{0xA640, 0xA640, 1}, {0xA641, 0xA641, -1}, {0xA642, 0xA642, 1}, {0xA643, 0xA643, -1}, 
	{0xA644, 0xA644, 1}, {0xA645, 0xA645, -1}, {0xA646, 0xA646, 1}, {0xA647, 0xA647, -1}, 
	{0xA648, 0xA648, 1}, {0xA649, 0xA649, -1}, {0xA64A, 0xA64A, 1}, {0xA64B, 0xA64B, -35267}, 
	{0xA64C, 0xA64C, 1}, {0xA64D, 0xA64D, -1}, {0xA64E, 0xA64E, 1}, {0xA64F, 0xA64F, -1}, 
	{0xA650, 0xA650, 1}, {0xA651, 0xA651, -1}, {0xA652, 0xA652, 1}, {0xA653, 0xA653, -1}, 
	{0xA654, 0xA654, 1}, {0xA655, 0xA655, -1}, {0xA656, 0xA656, 1}, {0xA657, 0xA657, -1}, 
	{0xA658, 0xA658, 1}, {0xA659, 0xA659, -1}, {0xA65A, 0xA65A, 1}, {0xA65B, 0xA65B, -1}, 
	{0xA65C, 0xA65C, 1}, {0xA65D, 0xA65D, -1}, {0xA65E, 0xA65E, 1}, {0xA65F, 0xA65F, -1}, 
	{0xA660, 0xA660, 1}, {0xA661, 0xA661, -1}, {0xA662, 0xA662, 1}, {0xA663, 0xA663, -1}, 
	{0xA664, 0xA664, 1}, {0xA665, 0xA665, -1}, {0xA666, 0xA666, 1}, {0xA667, 0xA667, -1}, 
	{0xA668, 0xA668, 1}, {0xA669, 0xA669, -1}, {0xA66A, 0xA66A, 1}, {0xA66B, 0xA66B, -1}, 
	{0xA66C, 0xA66C, 1}, {0xA66D, 0xA66D, -1}, {0xA680, 0xA680, 1}, {0xA681, 0xA681, -1}, 
	{0xA682, 0xA682, 1}, {0xA683, 0xA683, -1}, {0xA684, 0xA684, 1}, {0xA685, 0xA685, -1}, 
	{0xA686, 0xA686, 1}, {0xA687, 0xA687, -1}, {0xA688, 0xA688, 1}, {0xA689, 0xA689, -1}, 
	{0xA68A, 0xA68A, 1}, {0xA68B, 0xA68B, -1}, {0xA68C, 0xA68C, 1}, {0xA68D, 0xA68D, -1}, 
	{0xA68E, 0xA68E, 1}, {0xA68F, 0xA68F, -1}, {0xA690, 0xA690, 1}, {0xA691, 0xA691, -1}, 
	{0xA692, 0xA692, 1}, {0xA693, 0xA693, -1}, {0xA694, 0xA694, 1}, {0xA695, 0xA695, -1}, 
	{0xA696, 0xA696, 1}, {0xA697, 0xA697, -1}, {0xA698, 0xA698, 1}, {0xA699, 0xA699, -1}, 
	{0xA69A, 0xA69A, 1}, {0xA69B, 0xA69B, -1}, {0xA722, 0xA722, 1}, {0xA723, 0xA723, -1}, 
	{0xA724, 0xA724, 1}, {0xA725, 0xA725, -1}, {0xA726, 0xA726, 1}, {0xA727, 0xA727, -1}, 
	{0xA728, 0xA728, 1}, {0xA729, 0xA729, -1}, {0xA72A, 0xA72A, 1}, {0xA72B, 0xA72B, -1}, 
	{0xA72C, 0xA72C, 1}, {0xA72D, 0xA72D, -1}, {0xA72E, 0xA72E, 1}, {0xA72F, 0xA72F, -1}, 
	{0xA732, 0xA732, 1}, {0xA733, 0xA733, -1}, {0xA734, 0xA734, 1}, {0xA735, 0xA735, -1}, 
	{0xA736, 0xA736, 1}, {0xA737, 0xA737, -1}, {0xA738, 0xA738, 1}, {0xA739, 0xA739, -1}, 
	{0xA73A, 0xA73A, 1}, {0xA73B, 0xA73B, -1}, {0xA73C, 0xA73C, 1}, {0xA73D, 0xA73D, -1}, 
	{0xA73E, 0xA73E, 1}, {0xA73F, 0xA73F, -1}, {0xA740, 0xA740, 1}, {0xA741, 0xA741, -1}, 
	{0xA742, 0xA742, 1}, {0xA743, 0xA743, -1}, {0xA744, 0xA744, 1}, {0xA745, 0xA745, -1}, 
	{0xA746, 0xA746, 1}, {0xA747, 0xA747, -1}, {0xA748, 0xA748, 1}, {0xA749, 0xA749, -1}, 
	{0xA74A, 0xA74A, 1}, {0xA74B, 0xA74B, -1}, {0xA74C, 0xA74C, 1}, {0xA74D, 0xA74D, -1}, 
	{0xA74E, 0xA74E, 1}, {0xA74F, 0xA74F, -1}, {0xA750, 0xA750, 1}, {0xA751, 0xA751, -1}, 
	{0xA752, 0xA752, 1}, {0xA753, 0xA753, -1}, {0xA754, 0xA754, 1}, {0xA755, 0xA755, -1}, 
	{0xA756, 0xA756, 1}, {0xA757, 0xA757, -1}, {0xA758, 0xA758, 1}, {0xA759, 0xA759, -1}, 
	{0xA75A, 0xA75A, 1}, {0xA75B, 0xA75B, -1}, {0xA75C, 0xA75C, 1}, {0xA75D, 0xA75D, -1}, 
	{0xA75E, 0xA75E, 1}, {0xA75F, 0xA75F, -1}, {0xA760, 0xA760, 1}, {0xA761, 0xA761, -1}, 
	{0xA762, 0xA762, 1}, {0xA763, 0xA763, -1}, {0xA764, 0xA764, 1}, {0xA765, 0xA765, -1}, 
	{0xA766, 0xA766, 1}, {0xA767, 0xA767, -1}, {0xA768, 0xA768, 1}, {0xA769, 0xA769, -1}, 
	{0xA76A, 0xA76A, 1}, {0xA76B, 0xA76B, -1}, {0xA76C, 0xA76C, 1}, {0xA76D, 0xA76D, -1}, 
	{0xA76E, 0xA76E, 1}, {0xA76F, 0xA76F, -1}, {0xA779, 0xA779, 1}, {0xA77A, 0xA77A, -1}, 
	{0xA77B, 0xA77B, 1}, {0xA77C, 0xA77C, -1}, {0xA77D, 0xA77D, -35332}, {0xA77E, 0xA77E, 1}, 
	{0xA77F, 0xA77F, -1}, {0xA780, 0xA780, 1}, {0xA781, 0xA781, -1}, {0xA782, 0xA782, 1}, 
	{0xA783, 0xA783, -1}, {0xA784, 0xA784, 1}, {0xA785, 0xA785, -1}, {0xA786, 0xA786, 1}, 
	{0xA787, 0xA787, -1}, {0xA78B, 0xA78B, 1}, {0xA78C, 0xA78C, -1}, {0xA78D, 0xA78D, -42280}, 
	{0xA790, 0xA790, 1}, {0xA791, 0xA791, -1}, {0xA792, 0xA792, 1}, {0xA793, 0xA793, -1}, 
	{0xA794, 0xA794, 48}, {0xA796, 0xA796, 1}, {0xA797, 0xA797, -1}, {0xA798, 0xA798, 1}, 
	{0xA799, 0xA799, -1}, {0xA79A, 0xA79A, 1}, {0xA79B, 0xA79B, -1}, {0xA79C, 0xA79C, 1}, 
	{0xA79D, 0xA79D, -1}, {0xA79E, 0xA79E, 1}, {0xA79F, 0xA79F, -1}, {0xA7A0, 0xA7A0, 1}, 
	{0xA7A1, 0xA7A1, -1}, {0xA7A2, 0xA7A2, 1}, {0xA7A3, 0xA7A3, -1}, {0xA7A4, 0xA7A4, 1}, 
	{0xA7A5, 0xA7A5, -1}, {0xA7A6, 0xA7A6, 1}, {0xA7A7, 0xA7A7, -1}, {0xA7A8, 0xA7A8, 1}, 
	{0xA7A9, 0xA7A9, -1}, {0xA7AA, 0xA7AA, -42308}, {0xA7AB, 0xA7AB, -42319}, {0xA7AC, 0xA7AC, -42315}, 
	{0xA7AD, 0xA7AD, -42305}, {0xA7AE, 0xA7AE, -42308}, {0xA7B0, 0xA7B0, -42258}, {0xA7B1, 0xA7B1, -42282}, 
	{0xA7B2, 0xA7B2, -42261}, {0xA7B3, 0xA7B3, 928}, {0xA7B4, 0xA7B4, 1}, {0xA7B5, 0xA7B5, -1}, 
	{0xA7B6, 0xA7B6, 1}, {0xA7B7, 0xA7B7, -1}, {0xA7B8, 0xA7B8, 1}, {0xA7B9, 0xA7B9, -1}, 
	{0xA7BA, 0xA7BA, 1}, {0xA7BB, 0xA7BB, -1}, {0xA7BC, 0xA7BC, 1}, {0xA7BD, 0xA7BD, -1}, 
	{0xA7BE, 0xA7BE, 1}, {0xA7BF, 0xA7BF, -1}, {0xA7C0, 0xA7C0, 1}, {0xA7C1, 0xA7C1, -1}, 
	{0xA7C2, 0xA7C2, 1}, {0xA7C3, 0xA7C3, -1}, {0xA7C4, 0xA7C4, -48}, {0xA7C5, 0xA7C5, -42307}, 
	{0xA7C6, 0xA7C6, -35384}, {0xA7C7, 0xA7C7, 1}, {0xA7C8, 0xA7C8, -1}, {0xA7C9, 0xA7C9, 1}, 
	{0xA7CA, 0xA7CA, -1}, {0xA7D0, 0xA7D0, 1}, {0xA7D1, 0xA7D1, -1}, {0xA7D6, 0xA7D6, 1}, 
	{0xA7D7, 0xA7D7, -1}, {0xA7D8, 0xA7D8, 1}, {0xA7D9, 0xA7D9, -1}, {0xA7F5, 0xA7F5, 1}, 
	{0xA7F6, 0xA7F6, -1}, {0xAB53, 0xAB53, -928}, {0xAB70, 0xABBF, -38864}, {0xFF21, 0xFF3A, 32}, 
	{0xFF41, 0xFF5A, -32}, {0x10400, 0x10427, 40}, {0x10428, 0x1044F, -40}, {0x104B0, 0x104D3, 40}, 
	{0x104D8, 0x104FB, -40}, {0x10570, 0x1057A, 39}, {0x1057C, 0x1058A, 39}, {0x1058C, 0x10592, 39}, 
	{0x10594, 0x10595, 39}, {0x10597, 0x105A1, -39}, {0x105A3, 0x105B1, -39}, {0x105B3, 0x105B9, -39}, 
	{0x105BB, 0x105BC, -39}, {0x10C80, 0x10CB2, 64}, {0x10CC0, 0x10CF2, -64}, {0x118A0, 0x118BF, 32}, 
	{0x118C0, 0x118DF, -32}, {0x16E40, 0x16E5F, 32}, {0x16E60, 0x16E7F, -32}, {0x1E900, 0x1E921, 34}, 
	{0x1E922, 0x1E943, -34}, 
};

/* gore_simple_fold is unicode.SimpleFold: the next rune of r's case
 * orbit (K k U+212A K ...), r itself when it has none. */
GORE_FN uint32_t gore_simple_fold(uint32_t r) {
	if (r < GORE_MIN_FOLD || r > GORE_MAX_FOLD) return r;
	int lo = 0, hi = (int)(sizeof gore_fold_runs / sizeof gore_fold_runs[0]) - 1;
	while (lo <= hi) {
		int m = (lo + hi) / 2;
		if (r < gore_fold_runs[m].lo) hi = m - 1;
		else if (r > gore_fold_runs[m].hi) lo = m + 1;
		else return (uint32_t)((int32_t)r + gore_fold_runs[m].delta);
	}
	return r;
}

/* ---- parser state ---- */

typedef struct {
	const char *whole, *p, *end;
	int flags;
	gore_node *nodes;
	int nn, cn;
	uint32_t *runes; /* GN_STR runes and GN_CLASS ranges */
	int nr, cr;
	int ncap;
	char **names;
	int cnames;
	int depth;
	char *err;
	size_t errn;
	int c_only;
	int failed;
} gore_p;

GORE_FN void *gore__grow(void *p, int *cap, int need, size_t size) {
	if (need <= *cap) return p;
	int c = *cap ? *cap : 16;
	while (c < need) c *= 2;
	p = realloc(p, (size_t)c * size);
	if (p == NULL) abort();
	*cap = c;
	return p;
}

GORE_FN int gore__node(gore_p *g, int op) {
	g->nodes = gore__grow(g->nodes, &g->cn, g->nn + 1, sizeof(gore_node));
	gore_node *n = &g->nodes[g->nn];
	memset(n, 0, sizeof *n);
	n->op = (uint8_t)op;
	n->sub = n->next = -1;
	n->off = -1;
	return g->nn++;
}

GORE_FN int32_t gore__runes(gore_p *g, const uint32_t *r, int n) {
	g->runes = gore__grow(g->runes, &g->cr, g->nr + n + 1, sizeof(uint32_t));
	int32_t off = g->nr;
	if (n > 0) memcpy(g->runes + off, r, (size_t)n * sizeof(uint32_t));
	g->nr += n;
	return off;
}

/* errors: Go's text, "error parsing regexp: <code>: `<expr>`" */
GORE_FN int gore__err(gore_p *g, const char *code, const char *expr, size_t n) {
	if (g->failed) return -1;
	g->failed = 1;
	snprintf(g->err, g->errn, "error parsing regexp: %s: `%.*s`", code, (int)(n > 200 ? 200 : n), expr);
	return -1;
}

GORE_FN int gore__conly(gore_p *g, const char *fmt, const char *a, size_t an) {
	if (g->failed) return -1;
	g->failed = 1;
	g->c_only = 1;
	snprintf(g->err, g->errn, fmt, (int)(an > 100 ? 100 : an), a);
	return -1;
}

/* nextRune: decode one rune; invalid UTF-8 is an error (Go's nextRune). An
   empty string gives 0xFFFD with width 0, no error, as Go's does. */
GORE_FN int gore__next(gore_p *g, const char *s, uint32_t *r) {
	if (s >= g->end) {
		*r = 0xFFFD;
		return 0;
	}
	int w = utf8_decode((const unsigned char *)s, (size_t)(g->end - s), r);
	if (*r == 0xFFFD && w == 1) {
		gore__err(g, "invalid UTF-8", s, (size_t)(g->end - s));
		return -1;
	}
	return w;
}

/* ---- character classes: [lo, hi] pairs ---- */

typedef struct {
	uint32_t *r;
	int n, cap; /* n: number of uint32 */
} gcls;

GORE_FN void gcls_add(gcls *c, uint32_t lo, uint32_t hi) {
	/* appendRange: widen the last or next-to-last range when lo..hi
	   overlaps or abuts it */
	for (int i = 2; i <= 4; i += 2) {
		if (c->n >= i) {
			uint32_t rlo = c->r[c->n - i], rhi = c->r[c->n - i + 1];
			if (lo <= rhi + 1 && rlo <= hi + 1) {
				if (lo < rlo) c->r[c->n - i] = lo;
				if (hi > rhi) c->r[c->n - i + 1] = hi;
				return;
			}
		}
	}
	c->r = gore__grow(c->r, &c->cap, c->n + 2, sizeof(uint32_t));
	c->r[c->n++] = lo;
	c->r[c->n++] = hi;
}

GORE_FN int gcls__cmp(const void *a, const void *b) {
	const uint32_t *x = a, *y = b;
	if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
	if (x[1] != y[1]) return x[1] > y[1] ? -1 : 1;
	return 0;
}

GORE_FN void gcls_clean(gcls *c) {
	if (c->n < 4) return;
	qsort(c->r, (size_t)c->n / 2, 2 * sizeof(uint32_t), gcls__cmp);
	int w = 2;
	for (int i = 2; i < c->n; i += 2) {
		uint32_t lo = c->r[i], hi = c->r[i + 1];
		if (lo <= c->r[w - 1] + 1) {
			if (hi > c->r[w - 1]) c->r[w - 1] = hi;
			continue;
		}
		c->r[w] = lo;
		c->r[w + 1] = hi;
		w += 2;
	}
	c->n = w;
}

/* gcls_negate: the complement of a clean class within 0..MaxRune. */
GORE_FN void gcls_negate(gcls *c) {
	gcls o = {NULL, 0, 0};
	uint32_t next = 0;
	for (int i = 0; i < c->n; i += 2) {
		if (c->r[i] > next) gcls_add(&o, next, c->r[i] - 1);
		next = c->r[i + 1] + 1;
	}
	if (next <= GORE_MAX_RUNE) gcls_add(&o, next, GORE_MAX_RUNE);
	free(c->r);
	*c = o;
}


/* gcls_add_folded is appendFoldedRange: lo..hi and every rune of the
   case orbits of its runes. */
GORE_FN void gcls_add_folded(gcls *c, uint32_t lo, uint32_t hi) {
	if ((lo <= GORE_MIN_FOLD && hi >= GORE_MAX_FOLD) || hi < GORE_MIN_FOLD || lo > GORE_MAX_FOLD) {
		gcls_add(c, lo, hi);
		return;
	}
	if (lo < GORE_MIN_FOLD) {
		gcls_add(c, lo, GORE_MIN_FOLD - 1);
		lo = GORE_MIN_FOLD;
	}
	if (hi > GORE_MAX_FOLD) {
		gcls_add(c, GORE_MAX_FOLD + 1, hi);
		hi = GORE_MAX_FOLD;
	}
	for (uint32_t r = lo; r <= hi; r++) {
		gcls_add(c, r, r);
		for (uint32_t f = gore_simple_fold(r); f != r; f = gore_simple_fold(f)) gcls_add(c, f, f);
	}
}

/* perl and POSIX groups (perl_groups.go), ASCII */
typedef struct {
	const char *name;
	int sign;
	const char *ranges; /* pairs of bytes */
} gore_group;

static const gore_group gore_perl[] = {
	{"\\d", 1, "09"}, {"\\D", -1, "09"}, {"\\s", 1, "\t\n\f\r  "}, {"\\S", -1, "\t\n\f\r  "},
	{"\\w", 1, "09AZ__az"}, {"\\W", -1, "09AZ__az"},
};

static const gore_group gore_posix[] = {
	{"[:alnum:]", 1, "09AZaz"}, {"[:^alnum:]", -1, "09AZaz"}, {"[:alpha:]", 1, "AZaz"}, {"[:^alpha:]", -1, "AZaz"},
	{"[:ascii:]", 1, "\x01\x7f"}, {"[:^ascii:]", -1, "\x01\x7f"}, {"[:blank:]", 1, "\t\t  "}, {"[:^blank:]", -1, "\t\t  "},
	{"[:cntrl:]", 1, "\x01\x1f\x7f\x7f"}, {"[:^cntrl:]", -1, "\x01\x1f\x7f\x7f"}, {"[:digit:]", 1, "09"},
	{"[:^digit:]", -1, "09"}, {"[:graph:]", 1, "!~"}, {"[:^graph:]", -1, "!~"}, {"[:lower:]", 1, "az"},
	{"[:^lower:]", -1, "az"}, {"[:print:]", 1, " ~"}, {"[:^print:]", -1, " ~"}, {"[:punct:]", 1, "!/:@[`{~"},
	{"[:^punct:]", -1, "!/:@[`{~"}, {"[:space:]", 1, "\t\r  "}, {"[:^space:]", -1, "\t\r  "}, {"[:upper:]", 1, "AZ"},
	{"[:^upper:]", -1, "AZ"}, {"[:word:]", 1, "09AZ__az"}, {"[:^word:]", -1, "09AZ__az"}, {"[:xdigit:]", 1, "09AFaf"},
	{"[:^xdigit:]", -1, "09AFaf"},
};

/* appendGroup: a group into class c (folded under (?i)). The \x01 in the
   tables stands for NUL (ascii and cntrl start at 0). */
GORE_FN void gore__append_group(gore_p *g, gcls *c, const gore_group *gr) {
	gcls t = {NULL, 0, 0};
	for (const char *q = gr->ranges; q[0] != '\0'; q += 2) {
		uint32_t lo = (unsigned char)q[0], hi = (unsigned char)q[1];
		if (lo == 1 && (strcmp(gr->name + (gr->sign < 0 ? 3 : 2), "ascii:]") == 0 ||
		                strcmp(gr->name + (gr->sign < 0 ? 3 : 2), "cntrl:]") == 0))
			lo = 0;
		if (g->flags & GF_FOLD) gcls_add_folded(&t, lo, hi);
		else gcls_add(&t, lo, hi);
	}
	gcls_clean(&t);
	if (gr->sign < 0) gcls_negate(&t);
	for (int i = 0; i < t.n; i += 2) gcls_add(c, t.r[i], t.r[i + 1]);
	free(t.r);
}

GORE_FN int gore__isalnum(uint32_t c) {
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

GORE_FN int gore__unhex(uint32_t c) {
	if (c >= '0' && c <= '9') return (int)(c - '0');
	if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
	if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
	return -1;
}

/* parseEscape: s at '\'; the rune and the rest, or -1. */
GORE_FN int gore__escape(gore_p *g, const char *s, uint32_t *r, const char **rest) {
	const char *t = s + 1;
	if (t >= g->end) return gore__err(g, "trailing backslash at end of expression", "", 0);
	uint32_t c;
	int w = gore__next(g, t, &c);
	if (w < 0) return -1;
	t += w;
	switch (c) {
	case '1': case '2': case '3': case '4': case '5': case '6': case '7':
		if (t >= g->end || *t < '0' || *t > '7') break;
		/* fallthrough */
	case '0': {
		uint32_t v = c - '0';
		for (int i = 1; i < 3; i++) {
			if (t >= g->end || *t < '0' || *t > '7') break;
			v = v * 8 + (uint32_t)(*t - '0');
			t++;
		}
		*r = v;
		*rest = t;
		return 0;
	}
	case 'x': {
		if (t >= g->end) break;
		if ((w = gore__next(g, t, &c)) < 0) return -1;
		t += w;
		if (c == '{') {
			int nhex = 0;
			uint32_t v = 0;
			for (;;) {
				if (t >= g->end) goto bad;
				if ((w = gore__next(g, t, &c)) < 0) return -1;
				t += w;
				if (c == '}') break;
				int d = gore__unhex(c);
				if (d < 0) goto bad;
				v = v * 16 + (uint32_t)d;
				if (v > GORE_MAX_RUNE) goto bad;
				nhex++;
			}
			if (nhex == 0) goto bad;
			*r = v;
			*rest = t;
			return 0;
		}
		int x = gore__unhex(c);
		if ((w = gore__next(g, t, &c)) < 0) return -1;
		t += w;
		int y = gore__unhex(c);
		if (x < 0 || y < 0) break;
		*r = (uint32_t)(x * 16 + y);
		*rest = t;
		return 0;
	}
	case 'a': *r = '\a'; *rest = t; return 0;
	case 'f': *r = '\f'; *rest = t; return 0;
	case 'n': *r = '\n'; *rest = t; return 0;
	case 'r': *r = '\r'; *rest = t; return 0;
	case 't': *r = '\t'; *rest = t; return 0;
	case 'v': *r = '\v'; *rest = t; return 0;
	default:
		if (c < 0x80 && !gore__isalnum(c)) {
			*r = c;
			*rest = t;
			return 0;
		}
	}
bad:
	return gore__err(g, "invalid escape sequence", s, (size_t)(t - s));
}

/* \p and \P: refused (Unicode tables) */
GORE_FN int gore__unicode_class(gore_p *g, const char *s) {
	if (g->end - s < 2 || s[0] != '\\' || (s[1] != 'p' && s[1] != 'P')) return 0;
	const char *e = s + 2;
	if (e < g->end && *e == '{') {
		const char *q = memchr(e, '}', (size_t)(g->end - e));
		e = q ? q + 1 : g->end;
	} else if (e < g->end) {
		uint32_t c;
		int w = gore__next(g, e, &c);
		if (w < 0) return -1;
		e += w;
	}
	return gore__conly(g, "`%.*s`: Unicode classes (\\p, \\P)", s, (size_t)(e - s));
}

GORE_FN const gore_group *gore__perl_group(gore_p *g, const char *s) {
	if (g->end - s < 2 || s[0] != '\\') return NULL;
	for (size_t i = 0; i < sizeof gore_perl / sizeof gore_perl[0]; i++)
		if (s[1] == gore_perl[i].name[1]) return &gore_perl[i];
	return NULL;
}

/* gore__push_class turns a clean class into a node (Go's push: a single
   rune is a literal). */
GORE_FN int gore__lit(gore_p *g, uint32_t r, int fold);

/* parseClass: s at '['. Returns the node, or -1. */
GORE_FN int gore__class(gore_p *g, const char *s, const char **rest, int *is_lit, uint32_t *lit) {
	const char *t = s + 1;
	gcls c = {NULL, 0, 0};
	int sign = 1;
	*is_lit = 0;
	if (t < g->end && *t == '^') {
		sign = -1;
		t++;
	}
	int first = 1;
	while (t >= g->end || *t != ']' || first) {
		first = 0;
		if (g->end - t > 2 && t[0] == '[' && t[1] == ':') {
			const char *q = NULL;
			for (const char *x = t + 2; x + 1 < g->end; x++)
				if (x[0] == ':' && x[1] == ']') {
					q = x;
					break;
				}
			if (q != NULL) {
				size_t nl = (size_t)(q + 2 - t);
				const gore_group *gr = NULL;
				for (size_t i = 0; i < sizeof gore_posix / sizeof gore_posix[0]; i++)
					if (strlen(gore_posix[i].name) == nl && memcmp(gore_posix[i].name, t, nl) == 0) gr = &gore_posix[i];
				if (gr == NULL) {
					free(c.r);
					return gore__err(g, "invalid character class range", t, nl);
				}
				gore__append_group(g, &c, gr);
				t = q + 2;
				continue;
			}
		}
		if (gore__unicode_class(g, t) < 0) {
			free(c.r);
			return -1;
		}
		const gore_group *pg = gore__perl_group(g, t);
		if (pg != NULL) {
			gore__append_group(g, &c, pg);
			t += 2;
			continue;
		}
		const char *rng = t;
		uint32_t lo, hi;
		if (t >= g->end) {
			free(c.r);
			return gore__err(g, "missing closing ]", s, (size_t)(g->end - s));
		}
		if (*t == '\\') {
			if (gore__escape(g, t, &lo, &t) < 0) {
				free(c.r);
				return -1;
			}
		} else {
			int w = gore__next(g, t, &lo);
			if (w < 0) {
				free(c.r);
				return -1;
			}
			t += w;
		}
		hi = lo;
		if (g->end - t >= 2 && t[0] == '-' && t[1] != ']') {
			t++;
			if (t >= g->end) {
				free(c.r);
				return gore__err(g, "missing closing ]", s, (size_t)(g->end - s));
			}
			if (*t == '\\') {
				if (gore__escape(g, t, &hi, &t) < 0) {
					free(c.r);
					return -1;
				}
			} else {
				int w = gore__next(g, t, &hi);
				if (w < 0) {
					free(c.r);
					return -1;
				}
				t += w;
			}
			if (hi < lo) {
				free(c.r);
				return gore__err(g, "invalid character class range", rng, (size_t)(t - rng));
			}
		}
		if (g->flags & GF_FOLD) gcls_add_folded(&c, lo, hi);
		else gcls_add(&c, lo, hi);
	}
	t++; /* ] */
	gcls_clean(&c);
	if (sign < 0) gcls_negate(&c);
	*rest = t;
	if (c.n == 2 && c.r[0] == c.r[1]) { /* a single rune: a literal */
		*is_lit = 1;
		*lit = c.r[0];
		free(c.r);
		return 0;
	}
	int n = gore__node(g, GN_CLASS);
	g->nodes[n].off = gore__runes(g, c.r, c.n);
	g->nodes[n].len = c.n;
	free(c.r);
	return n;
}

/* ---- the concatenation stack (Go's push and maybeConcat) ---- */

typedef struct {
	int *items;
	int n, cap;
} gstack;

GORE_FN void gstack_push(gstack *s, int v) {
	s->items = gore__grow(s->items, &s->cap, s->n + 1, sizeof(int));
	s->items[s->n++] = v;
}

/* gore__merge: maybeConcat(-1): when the top two are literal strings with
   the same folding, the top joins the one below. */
GORE_FN void gore__merge(gore_p *g, gstack *s) {
	if (s->n < 2) return;
	gore_node *a = &g->nodes[s->items[s->n - 2]], *b = &g->nodes[s->items[s->n - 1]];
	if (a->op != GN_STR || b->op != GN_STR || a->fold != b->fold) return;
	/* a's runes are always the last ones written when it can grow; copy to be safe */
	int32_t len = a->len + b->len;
	uint32_t *tmp = malloc((size_t)len * sizeof(uint32_t) + 4);
	if (tmp == NULL) abort();
	memcpy(tmp, g->runes + a->off, (size_t)a->len * sizeof(uint32_t));
	memcpy(tmp + a->len, g->runes + b->off, (size_t)b->len * sizeof(uint32_t));
	int32_t off = gore__runes(g, tmp, len);
	free(tmp);
	a = &g->nodes[s->items[s->n - 2]];
	a->off = off;
	a->len = len;
	s->n--;
}

GORE_FN int gore__lit(gore_p *g, uint32_t r, int fold) {
	int n = gore__node(g, GN_STR);
	g->nodes[n].off = gore__runes(g, &r, 1);
	g->nodes[n].len = 1;
	g->nodes[n].fold = (uint8_t)(fold != 0);
	return n;
}

/* gore__push: every push first merges the two below (Go's push and
   literal both do, one way or the other). */
GORE_FN void gore__push(gore_p *g, gstack *s, int node) {
	gore__merge(g, s);
	gstack_push(s, node);
}

/* collapse into a concatenation (flattening concatenations), after a final
   merge (Go's concat). */
GORE_FN int gore__concat(gore_p *g, gstack *s) {
	gore__merge(g, s);
	if (s->n == 0) return gore__node(g, GN_EMPTY);
	if (s->n == 1) return s->items[0];
	int n = gore__node(g, GN_CAT), last = -1;
	for (int i = 0; i < s->n; i++) {
		int it = s->items[i];
		int k = g->nodes[it].op == GN_CAT ? g->nodes[it].sub : it;
		int single = g->nodes[it].op != GN_CAT;
		while (k >= 0) {
			int nk = single ? -1 : g->nodes[k].next;
			/* copy the child link: a node is in one list only, so move it */
			g->nodes[k].next = -1;
			if (last < 0) g->nodes[n].sub = k;
			else g->nodes[last].next = k;
			last = k;
			k = nk;
		}
	}
	return n;
}

GORE_FN int gore__charlike(gore_p *g, int b);
GORE_FN int gore__merge_class(gore_p *g, int a, int b);

/* the leading literal string of a branch (leadingString): node index of the
   GN_STR, or -1 */
GORE_FN int gore__leading(gore_p *g, int b) {
	if (g->nodes[b].op == GN_CAT) b = g->nodes[b].sub;
	return b >= 0 && g->nodes[b].op == GN_STR ? b : -1;
}

/* gore__alternate: the branches (a list linked by next) into an
   alternation, with Go's first factoring round where it changes the tree's
   shape at the top: all branches starting with a common literal become
   prefix(rest1|rest2|...). (The other rounds do not change what matches.) */
GORE_FN int gore__alternate(gore_p *g, int first, int count) {
	if (count == 1) return first;
	/* flatten nested alternations (collapse) */
	int n = gore__node(g, GN_ALT), last = -1;
	for (int b = first; b >= 0;) {
		int nb = g->nodes[b].next;
		if (g->nodes[b].op == GN_ALT) {
			for (int k = g->nodes[b].sub; k >= 0;) {
				int nk = g->nodes[k].next;
				g->nodes[k].next = -1;
				if (last < 0) g->nodes[n].sub = k;
				else g->nodes[last].next = k;
				last = k;
				k = nk;
			}
		} else {
			g->nodes[b].next = -1;
			if (last < 0) g->nodes[n].sub = b;
			else g->nodes[last].next = b;
			last = b;
		}
		b = nb;
	}
	/* swapVerticalBar: neighbouring branches that each match one character
	   merge into one class (which matches the same) */
	{
		int prev = -1;
		for (int b = g->nodes[n].sub; b >= 0;) {
			int nb = g->nodes[b].next;
			if (prev >= 0 && gore__charlike(g, prev) && gore__charlike(g, b)) {
				int m = gore__merge_class(g, prev, b);
				g->nodes[m].next = nb;
				/* replace prev by m */
				if (g->nodes[n].sub == prev) g->nodes[n].sub = m;
				else
					for (int k = g->nodes[n].sub; k >= 0; k = g->nodes[k].next)
						if (g->nodes[k].next == prev) {
							g->nodes[k].next = m;
							break;
						}
				prev = m;
			} else {
				prev = b;
			}
			b = nb;
		}
		int only = g->nodes[n].sub;
		if (only >= 0 && g->nodes[only].next < 0) {
			gore_node *o = &g->nodes[only];
			if (o->op == GN_CLASS && o->len == 2 && g->runes[o->off] == g->runes[o->off + 1]) {
				uint32_t r = g->runes[o->off];
				return gore__lit(g, r, 0);
			}
			return only;
		}
	}
	/* the common leading string of every branch */
	int common = -1, fold = 0, first_str = -1;
	for (int b = g->nodes[n].sub; b >= 0; b = g->nodes[b].next) {
		int l = gore__leading(g, b);
		if (l < 0) return n;
		if (first_str < 0) {
			first_str = l;
			common = g->nodes[l].len;
			fold = g->nodes[l].fold;
			continue;
		}
		if (g->nodes[l].fold != fold) return n;
		int same = 0;
		while (same < common && same < g->nodes[l].len &&
		       g->runes[g->nodes[first_str].off + same] == g->runes[g->nodes[l].off + same])
			same++;
		common = same;
		if (common == 0) return n;
	}
	if (common <= 0) return n;
	int prefix = gore__node(g, GN_STR);
	g->nodes[prefix].off = g->nodes[first_str].off;
	g->nodes[prefix].len = common;
	g->nodes[prefix].fold = (uint8_t)fold;
	/* removeLeadingString from each branch */
	int rl = -1, rfirst = -1;
	for (int b = g->nodes[n].sub; b >= 0;) {
		int nb = g->nodes[b].next, r = b;
		int l = gore__leading(g, b);
		if (g->nodes[l].len > common) {
			int ns = gore__node(g, GN_STR);
			g->nodes[ns] = g->nodes[l];
			g->nodes[ns].off += common;
			g->nodes[ns].len -= common;
			if (g->nodes[b].op == GN_CAT) {
				g->nodes[ns].next = g->nodes[l].next;
				g->nodes[b].sub = ns;
			} else {
				r = ns;
			}
		} else if (g->nodes[b].op == GN_CAT) {
			int rest = g->nodes[l].next;
			if (rest >= 0 && g->nodes[rest].next < 0) r = rest;
			else if (rest < 0) r = gore__node(g, GN_EMPTY);
			else g->nodes[b].sub = rest;
		} else {
			r = gore__node(g, GN_EMPTY);
		}
		g->nodes[r].next = -1;
		if (rl < 0) rfirst = r;
		else g->nodes[rl].next = r;
		rl = r;
		b = nb;
	}
	g->nodes[n].sub = rfirst;
	int cat = gore__node(g, GN_CAT);
	g->nodes[cat].sub = prefix;
	g->nodes[prefix].next = n;
	return cat;
}

/* isCharClass: a branch that matches one character */
GORE_FN int gore__charlike(gore_p *g, int b) {
	gore_node *x = &g->nodes[b];
	return (x->op == GN_STR && x->len == 1) || x->op == GN_CLASS || x->op == GN_ANY || x->op == GN_ANYNL;
}

/* mergeCharClass: the class of two char-like branches */
GORE_FN int gore__merge_class(gore_p *g, int a, int b) {
	gcls c = {NULL, 0, 0};
	int ab[2] = {a, b};
	for (int k = 0; k < 2; k++) {
		gore_node *x = &g->nodes[ab[k]];
		if (x->op == GN_STR) {
			uint32_t r = g->runes[x->off];
			if (x->fold) gcls_add_folded(&c, r, r);
			else gcls_add(&c, r, r);
		} else if (x->op == GN_CLASS) {
			for (int i = 0; i < x->len; i += 2) gcls_add(&c, g->runes[x->off + i], g->runes[x->off + i + 1]);
		} else if (x->op == GN_ANY) {
			gcls_add(&c, 0, GORE_MAX_RUNE);
		} else {
			gcls_add(&c, 0, '\n' - 1);
			gcls_add(&c, '\n' + 1, GORE_MAX_RUNE);
		}
	}
	gcls_clean(&c);
	int n = gore__node(g, GN_CLASS);
	g->nodes[n].off = gore__runes(g, c.r, c.n);
	g->nodes[n].len = c.n;
	free(c.r);
	return n;
}

GORE_FN int gore__is_repeat_start(gore_p *g, const char *t) {
	return t < g->end && (*t == '*' || *t == '+' || *t == '?' || *t == '{');
}

/* parseInt for {n,m}: -2 not a number, -1 too big */
GORE_FN int gore__int(gore_p *g, const char **s) {
	const char *t = *s;
	if (t >= g->end || *t < '0' || *t > '9') return -2;
	if (g->end - t >= 2 && t[0] == '0' && t[1] >= '0' && t[1] <= '9') return -2;
	long v = 0;
	int big = 0;
	while (t < g->end && *t >= '0' && *t <= '9') {
		if (v >= 100000000) big = 1;
		else v = v * 10 + (*t - '0');
		t++;
	}
	*s = t;
	return big ? -1 : (int)v;
}

/* parseRepeat: 1 with min, max (-1 = no max; min -1 = too big), 0 when not
   a repeat (the { is then a literal). */
GORE_FN int gore__parse_repeat(gore_p *g, const char *s, int *min, int *max, const char **rest) {
	const char *t = s + 1;
	int a = gore__int(g, &t);
	if (a == -2 || t >= g->end) return 0;
	int b;
	if (*t != ',') {
		b = a;
	} else {
		t++;
		if (t >= g->end) return 0;
		if (*t == '}') b = -1;
		else {
			b = gore__int(g, &t);
			if (b == -2) return 0;
			if (b == -1) a = -1;
		}
	}
	if (t >= g->end || *t != '}') return 0;
	*min = a;
	*max = b;
	*rest = t + 1;
	return 1;
}

/* repeatIsValid */
GORE_FN int gore__repeat_valid(gore_p *g, int re, int n) {
	gore_node *x = &g->nodes[re];
	if (x->op == GN_REP) {
		int m = x->max;
		if (m == 0) return 1;
		if (m < 0) m = x->min;
		if (m > n) return 0;
		if (m > 0) n /= m;
	}
	for (int k = x->sub; k >= 0; k = g->nodes[k].next)
		if (!gore__repeat_valid(g, k, n)) return 0;
	return 1;
}

GORE_FN int gore__alt(gore_p *g);

/* parsePerlFlags: t at "(?". Sets *group to the capture/non-capture group
   kind to open (0: none, just flags), *newflags. */
GORE_FN int gore__perl_flags(gore_p *g, const char *s, const char **rest, int *group, int *cap_named, int *newflags) {
	const char *t = s;
	size_t len = (size_t)(g->end - s);
	int startsP = len > 4 && t[2] == 'P' && t[3] == '<';
	int startsName = len > 3 && t[2] == '<';
	*cap_named = 0;
	if (startsP || startsName) {
		int exprStart = startsName ? 3 : 4;
		const char *endp = memchr(t, '>', len);
		if (endp == NULL) return gore__err(g, "invalid named capture", s, len);
		const char *name = t + exprStart;
		size_t nl = (size_t)(endp - name);
		int ok = nl > 0;
		for (size_t i = 0; i < nl; i++)
			if (name[i] != '_' && !gore__isalnum((unsigned char)name[i])) ok = 0;
		if (!ok) return gore__err(g, "invalid named capture", s, (size_t)(endp + 1 - s));
		g->ncap++;
		g->names = gore__grow(g->names, &g->cnames, g->ncap + 1, sizeof(char *));
		g->names[g->ncap] = malloc(nl + 1);
		if (g->names[g->ncap] == NULL) abort();
		memcpy(g->names[g->ncap], name, nl);
		g->names[g->ncap][nl] = '\0';
		*cap_named = g->ncap;
		*group = 2;
		*newflags = g->flags;
		*rest = endp + 1;
		return 0;
	}
	t += 2;
	int flags = g->flags, sign = 1, saw = 0;
	while (t < g->end) {
		uint32_t c;
		int w = gore__next(g, t, &c);
		if (w < 0) return -1;
		t += w;
		switch (c) {
		case 'i': flags |= GF_FOLD; saw = 1; continue;
		case 'm': flags &= ~GF_ONELINE; saw = 1; continue;
		case 's': flags |= GF_DOTNL; saw = 1; continue;
		case 'U': flags |= GF_NONGREEDY; saw = 1; continue;
		case '-':
			if (sign < 0) break;
			sign = -1;
			flags = ~flags;
			saw = 0;
			continue;
		case ':':
		case ')':
			if (sign < 0) {
				if (!saw) break;
				flags = ~flags;
			}
			*group = c == ':' ? 1 : 0;
			*newflags = flags;
			*rest = t;
			return 0;
		}
		break;
	}
	return gore__err(g, "invalid or unsupported Perl syntax", s, (size_t)(t - s));
}

/* gore__concat_parse parses until '|', ')' or the end. */
GORE_FN int gore__concat_parse(gore_p *g) {
	gstack s = {NULL, 0, 0};
	const char *last_repeat = NULL;
	while (g->p < g->end && *g->p != '|' && *g->p != ')') {
		const char *t = g->p, *repeat = NULL;
		switch (*t) {
		case '(': {
			int group = 2, named = 0, nf = g->flags;
			const char *rest = t + 1;
			if (g->end - t >= 2 && t[1] == '?') {
				if (gore__perl_flags(g, t, &rest, &group, &named, &nf) < 0) goto fail;
				if (group == 0) { /* (?flags) */
					g->flags = nf;
					g->p = rest;
					break;
				}
			}
			int capn = 0;
			if (group == 2) {
				if (named) capn = named;
				else {
					capn = ++g->ncap;
					g->names = gore__grow(g->names, &g->cnames, g->ncap + 1, sizeof(char *));
					g->names[capn] = NULL;
				}
			}
			if (++g->depth > GORE_MAX_DEPTH) {
				gore__conly(g, "patterns with groups nested more than %.*s deep", "100", 3);
				goto fail;
			}
			int saved = g->flags;
			g->flags = nf;
			g->p = rest;
			int inner = gore__alt(g);
			if (inner < 0) goto fail;
			if (g->p >= g->end) {
				gore__err(g, "missing closing )", g->whole, (size_t)(g->end - g->whole));
				goto fail;
			}
			g->p++; /* ) */
			g->depth--;
			g->flags = saved;
			if (capn) {
				int c = gore__node(g, GN_CAP);
				g->nodes[c].cap = capn;
				g->nodes[c].sub = inner;
				gore__push(g, &s, c);
			} else {
				gore__push(g, &s, inner);
			}
			break;
		}
		case '^':
			gore__push(g, &s, gore__node(g, (g->flags & GF_ONELINE) ? GN_BOT : GN_BOL));
			g->p++;
			break;
		case '$':
			gore__push(g, &s, gore__node(g, (g->flags & GF_ONELINE) ? GN_EOT : GN_EOL));
			g->p++;
			break;
		case '.':
			gore__push(g, &s, gore__node(g, (g->flags & GF_DOTNL) ? GN_ANY : GN_ANYNL));
			g->p++;
			break;
		case '[': {
			int is_lit;
			uint32_t r;
			int n = gore__class(g, t, &g->p, &is_lit, &r);
			if (n < 0) goto fail;
			if (is_lit) gore__push(g, &s, gore__lit(g, r, 0));
			else gore__push(g, &s, n);
			break;
		}
		case '*': case '+': case '?': case '{': {
			int op, min = 0, max = 0;
			const char *after = t + 1;
			if (*t == '*') op = GN_STAR;
			else if (*t == '+') op = GN_PLUS;
			else if (*t == '?') op = GN_QUEST;
			else {
				op = GN_REP;
				if (!gore__parse_repeat(g, t, &min, &max, &after)) {
					gore__push(g, &s, gore__lit(g, '{', g->flags & GF_FOLD));
					g->p = t + 1;
					break;
				}
				if (min < 0 || min > 1000 || max > 1000 || (max >= 0 && min > max)) {
					gore__err(g, "invalid repeat count", t, (size_t)(after - t));
					goto fail;
				}
			}
			int flags = g->flags;
			if (after < g->end && *after == '?') {
				after++;
				flags ^= GF_NONGREEDY;
			}
			if (last_repeat != NULL) {
				gore__err(g, "invalid nested repetition operator", last_repeat, (size_t)(after - last_repeat));
				goto fail;
			}
			if (s.n == 0) {
				gore__err(g, "missing argument to repetition operator", t, (size_t)(after - t));
				goto fail;
			}
			int n = gore__node(g, op);
			g->nodes[n].min = min;
			g->nodes[n].max = max;
			g->nodes[n].ng = (flags & GF_NONGREEDY) != 0;
			g->nodes[n].sub = s.items[s.n - 1];
			s.items[s.n - 1] = n;
			if (op == GN_REP && (min >= 2 || max >= 2) && !gore__repeat_valid(g, n, 1000)) {
				gore__err(g, "invalid repeat count", t, (size_t)(after - t));
				goto fail;
			}
			repeat = t;
			g->p = after;
			break;
		}
		case '\\': {
			if (g->end - t >= 2) {
				int op = -1;
				switch (t[1]) {
				case 'A': op = GN_BOT; break;
				case 'b': op = GN_WB; break;
				case 'B': op = GN_NWB; break;
				case 'z': op = GN_EOT; break;
				case 'C':
					gore__err(g, "invalid escape sequence", t, 2);
					goto fail;
				case 'Q': {
					const char *q = t + 2, *e = NULL;
					for (const char *x = q; x + 1 < g->end; x++)
						if (x[0] == '\\' && x[1] == 'E') {
							e = x;
							break;
						}
					const char *stop = e ? e : g->end;
					while (q < stop) {
						uint32_t c;
						const char *save_end = g->end;
						g->end = stop;
						int w = gore__next(g, q, &c);
						g->end = save_end;
						if (w < 0) goto fail;
						gore__push(g, &s, gore__lit(g, c, g->flags & GF_FOLD));
						q += w;
					}
					g->p = e ? e + 2 : g->end;
					op = -2;
					break;
				}
				}
				if (op == -2) break;
				if (op >= 0) {
					gore__push(g, &s, gore__node(g, op));
					g->p = t + 2;
					break;
				}
			}
			if (gore__unicode_class(g, t) < 0) goto fail;
			const gore_group *pg = gore__perl_group(g, t);
			if (pg != NULL) {
				gcls c = {NULL, 0, 0};
				gore__append_group(g, &c, pg);
				int n = gore__node(g, GN_CLASS);
				g->nodes[n].off = gore__runes(g, c.r, c.n);
				g->nodes[n].len = c.n;
				free(c.r);
				gore__push(g, &s, n);
				g->p = t + 2;
				break;
			}
			uint32_t r;
			const char *rest;
			if (gore__escape(g, t, &r, &rest) < 0) goto fail;
			gore__push(g, &s, gore__lit(g, r, g->flags & GF_FOLD));
			g->p = rest;
			break;
		}
		default: {
			uint32_t r;
			int w = gore__next(g, t, &r);
			if (w < 0) goto fail;
			gore__push(g, &s, gore__lit(g, r, g->flags & GF_FOLD));
			g->p = t + w;
		}
		}
		last_repeat = repeat;
	}
	{
		int n = gore__concat(g, &s);
		free(s.items);
		return n;
	}
fail:
	free(s.items);
	return -1;
}

GORE_FN int gore__alt(gore_p *g) {
	int first = -1, last = -1, count = 0;
	for (;;) {
		int c = gore__concat_parse(g);
		if (c < 0) return -1;
		g->nodes[c].next = -1;
		if (last < 0) first = c;
		else g->nodes[last].next = c;
		last = c;
		count++;
		if (g->p < g->end && *g->p == '|') {
			g->p++;
			continue;
		}
		break;
	}
	return gore__alternate(g, first, count);
}

/* ---- the literal prefix (requestFilter's literalPathPrefix) ---- */

/* gore__prefix_node appends the unfolded literals of a simplified sub
   (x{1} is x); 0 when it is not a literal. */
GORE_FN int gore__prefix_lits(gore_p *g, int n, uint32_t **out, int *on, int *oc) {
	while (g->nodes[n].op == GN_REP && g->nodes[n].min == 1 && g->nodes[n].max == 1) n = g->nodes[n].sub;
	if (g->nodes[n].op != GN_STR || g->nodes[n].fold) return 0;
	*out = gore__grow(*out, oc, *on + g->nodes[n].len, sizeof(uint32_t));
	memcpy(*out + *on, g->runes + g->nodes[n].off, (size_t)g->nodes[n].len * sizeof(uint32_t));
	*on += g->nodes[n].len;
	return 1;
}

GORE_FN void gore__prefix(gore_p *g, int root, gore *re) {
	re->prefix = NULL;
	re->prefix_len = 0;
	while (g->nodes[root].op == GN_REP && g->nodes[root].min == 1 && g->nodes[root].max == 1) root = g->nodes[root].sub;
	if (g->nodes[root].op != GN_CAT) return;
	int k = g->nodes[root].sub;
	if (k < 0 || g->nodes[k].op != GN_BOT || g->nodes[k].next < 0) return;
	uint32_t *r = NULL;
	int n = 0, c = 0;
	for (k = g->nodes[k].next; k >= 0; k = g->nodes[k].next)
		if (!gore__prefix_lits(g, k, &r, &n, &c)) break;
	char *o = malloc((size_t)n * 4 + 1);
	if (o == NULL) abort();
	size_t m = 0;
	for (int i = 0; i < n; i++) {
		uint32_t v = r[i];
		if (v >= 0xD800 && v < 0xE000) v = 0xFFFD; /* string(rune) of a surrogate */
		m += (size_t)utf8_encode(o + m, v);
	}
	o[m] = '\0';
	free(r);
	re->prefix = o;
	re->prefix_len = m;
}

/* ---- the compiler (regexp/syntax compile.go over Simplify) ---- */

typedef struct {
	uint32_t i, head, tail; /* patch list: inst<<1 | (0 out, 1 arg); 0 = empty */
	int nullable;
} gfrag;

typedef struct {
	gore_p *g;
	gore *re;
	int cinst, cranges;
	int too_big;
} gcomp;

GORE_FN uint32_t gc__inst(gcomp *c, int op) {
	if (c->re->ninst >= GORE_MAX_INST) {
		c->too_big = 1;
		return 0;
	}
	c->re->inst = gore__grow(c->re->inst, &c->cinst, c->re->ninst + 1, sizeof(gore_inst));
	gore_inst *in = &c->re->inst[c->re->ninst];
	memset(in, 0, sizeof *in);
	in->op = (uint8_t)op;
	return (uint32_t)c->re->ninst++;
}

GORE_FN uint32_t *gc__slot(gcomp *c, uint32_t l) {
	gore_inst *in = &c->re->inst[l >> 1];
	return (l & 1) ? &in->arg : &in->out;
}

GORE_FN void gc__patch(gcomp *c, gfrag f, uint32_t val) {
	uint32_t l = f.head;
	while (l != 0) {
		uint32_t *s = gc__slot(c, l);
		uint32_t next = *s;
		*s = val;
		l = next;
	}
}

GORE_FN gfrag gc__mk(uint32_t i, uint32_t l, int nullable) {
	gfrag f = {i, l, l, nullable};
	return f;
}

GORE_FN void gc__append(gcomp *c, gfrag *f, gfrag o) {
	if (f->head == 0) {
		f->head = o.head;
		f->tail = o.tail;
		return;
	}
	if (o.head == 0) return;
	*gc__slot(c, f->tail) = o.head;
	f->tail = o.tail;
}

GORE_FN gfrag gc__fail(void) {
	gfrag f = {0, 0, 0, 0};
	return f;
}

GORE_FN gfrag gc__nop(gcomp *c) {
	uint32_t i = gc__inst(c, GI_NOP);
	if (i == 0) return gc__fail();
	return gc__mk(i, i << 1, 1);
}

GORE_FN gfrag gc__cat(gcomp *c, gfrag a, gfrag b) {
	if (a.i == 0 || b.i == 0) return gc__fail();
	gc__patch(c, a, b.i);
	gfrag f = {a.i, b.head, b.tail, a.nullable && b.nullable};
	return f;
}

GORE_FN gfrag gc__alt(gcomp *c, gfrag a, gfrag b) {
	if (a.i == 0) return b;
	if (b.i == 0) return a;
	uint32_t i = gc__inst(c, GI_ALT);
	if (i == 0) return gc__fail();
	c->re->inst[i].out = a.i;
	c->re->inst[i].arg = b.i;
	gfrag f = {i, a.head, a.tail, a.nullable || b.nullable};
	gc__append(c, &f, b);
	return f;
}

GORE_FN gfrag gc__quest(gcomp *c, gfrag a, int ng) {
	uint32_t i = gc__inst(c, GI_ALT);
	if (i == 0) return gc__fail();
	gfrag f;
	if (ng) {
		c->re->inst[i].arg = a.i;
		f = gc__mk(i, i << 1, 1);
	} else {
		c->re->inst[i].out = a.i;
		f = gc__mk(i, i << 1 | 1, 1);
	}
	gc__append(c, &f, a);
	return f;
}

GORE_FN gfrag gc__loop(gcomp *c, gfrag a, int ng) {
	uint32_t i = gc__inst(c, GI_ALT);
	if (i == 0) return gc__fail();
	gfrag f;
	if (ng) {
		c->re->inst[i].arg = a.i;
		f = gc__mk(i, i << 1, 1);
	} else {
		c->re->inst[i].out = a.i;
		f = gc__mk(i, i << 1 | 1, 1);
	}
	gc__patch(c, a, i);
	return f;
}

GORE_FN gfrag gc__plus(gcomp *c, gfrag a, int ng) {
	gfrag l = gc__loop(c, a, ng);
	gfrag f = {a.i, l.head, l.tail, a.nullable};
	if (l.i == 0) return gc__fail();
	return f;
}

GORE_FN gfrag gc__star(gcomp *c, gfrag a, int ng) {
	if (a.nullable) return gc__quest(c, gc__plus(c, a, ng), ng);
	return gc__loop(c, a, ng);
}

GORE_FN gfrag gc__empty(gcomp *c, uint32_t op) {
	uint32_t i = gc__inst(c, GI_EMPTY);
	if (i == 0) return gc__fail();
	c->re->inst[i].arg = op;
	return gc__mk(i, i << 1, 1);
}

GORE_FN gfrag gc__rune(gcomp *c, const uint32_t *r, int n) {
	uint32_t i = gc__inst(c, GI_RUNE);
	if (i == 0) return gc__fail();
	c->re->ranges = gore__grow(c->re->ranges, &c->cranges, c->re->nranges + n, sizeof(uint32_t));
	if (n > 0) memcpy(c->re->ranges + c->re->nranges, r, (size_t)n * sizeof(uint32_t));
	c->re->inst[i].off = c->re->nranges;
	c->re->inst[i].len = n;
	c->re->nranges += n;
	gfrag f = gc__mk(i, i << 1, 0);
	return f;
}

GORE_FN gfrag gc__lit(gcomp *c, uint32_t r, int fold) {
	if (fold && gore_simple_fold(r) != r) {
		gcls k = {NULL, 0, 0};
		gcls_add_folded(&k, r, r);
		gcls_clean(&k);
		gfrag f = gc__rune(c, k.r, k.n);
		free(k.r);
		return f;
	}
	uint32_t rr[2] = {r, r};
	return gc__rune(c, rr, 2);
}

GORE_FN gfrag gc__compile(gcomp *c, int n);

/* simplify1's collapses: x** is x*, a star of the empty match is it */
GORE_FN gfrag gc__simple(gcomp *c, int op, int ng, int sub) {
	gore_node *s = &c->g->nodes[sub];
	if (s->op == GN_EMPTY) return gc__compile(c, sub);
	if (s->op == op && s->ng == ng) return gc__compile(c, sub);
	gfrag f = gc__compile(c, sub);
	if (c->too_big) return gc__fail();
	switch (op) {
	case GN_STAR: return gc__star(c, f, ng);
	case GN_PLUS: return gc__plus(c, f, ng);
	default: return gc__quest(c, f, ng);
	}
}

/* gc__simplified: does Simplify give n back as it is (so simplify1 may
   return it)? Only the node kinds simplify1 compares matter. */
GORE_FN int gc__simple_op(gcomp *c, int sub) {
	gore_node *s = &c->g->nodes[sub];
	if (s->op == GN_REP) {
		if (s->min == 0 && s->max == 0) return GN_EMPTY;
		if (s->max == -1 && s->min == 0) return GN_STAR;
		if (s->max == -1 && s->min == 1) return GN_PLUS;
		if (s->min == 1 && s->max == 1) return gc__simple_op(c, s->sub);
		if (s->min == 0 && s->max == 1) return GN_QUEST;
		return GN_CAT;
	}
	return s->op;
}

GORE_FN int gc__simple_ng(gcomp *c, int sub) {
	gore_node *s = &c->g->nodes[sub];
	if (s->op == GN_REP && s->min == 1 && s->max == 1) return gc__simple_ng(c, s->sub);
	return s->ng;
}

GORE_FN gfrag gc__simple1(gcomp *c, int op, int ng, int sub) {
	int so = gc__simple_op(c, sub);
	if (so == GN_EMPTY || (so == op && gc__simple_ng(c, sub) == ng)) return gc__compile(c, sub);
	gfrag f = gc__compile(c, sub);
	if (c->too_big) return gc__fail();
	switch (op) {
	case GN_STAR: return gc__star(c, f, ng);
	case GN_PLUS: return gc__plus(c, f, ng);
	default: return gc__quest(c, f, ng);
	}
}

GORE_FN gfrag gc__compile(gcomp *c, int n) {
	if (c->too_big) return gc__fail();
	gore_node nd = c->g->nodes[n];
	switch (nd.op) {
	case GN_EMPTY: return gc__nop(c);
	case GN_STR: {
		gfrag f = gc__fail();
		for (int j = 0; j < nd.len; j++) {
			gfrag f1 = gc__lit(c, c->g->runes[nd.off + j], nd.fold);
			f = j == 0 ? f1 : gc__cat(c, f, f1);
		}
		if (nd.len == 0) return gc__nop(c);
		return f;
	}
	case GN_CLASS: return gc__rune(c, c->g->runes + nd.off, nd.len);
	case GN_ANY: {
		uint32_t r[2] = {0, GORE_MAX_RUNE};
		return gc__rune(c, r, 2);
	}
	case GN_ANYNL: {
		uint32_t r[4] = {0, '\n' - 1, '\n' + 1, GORE_MAX_RUNE};
		return gc__rune(c, r, 4);
	}
	case GN_BOL: return gc__empty(c, GE_BOL);
	case GN_EOL: return gc__empty(c, GE_EOL);
	case GN_BOT: return gc__empty(c, GE_BOT);
	case GN_EOT: return gc__empty(c, GE_EOT);
	case GN_WB: return gc__empty(c, GE_WB);
	case GN_NWB: return gc__empty(c, GE_NWB);
	case GN_CAP: {
		uint32_t b = gc__inst(c, GI_CAP);
		if (b == 0) return gc__fail();
		c->re->inst[b].arg = (uint32_t)nd.cap << 1;
		gfrag bra = gc__mk(b, b << 1, 1);
		gfrag sub = gc__compile(c, nd.sub);
		uint32_t k = gc__inst(c, GI_CAP);
		if (k == 0) return gc__fail();
		c->re->inst[k].arg = (uint32_t)nd.cap << 1 | 1;
		gfrag ket = gc__mk(k, k << 1, 1);
		return gc__cat(c, gc__cat(c, bra, sub), ket);
	}
	case GN_STAR: case GN_PLUS: case GN_QUEST: return gc__simple1(c, nd.op, nd.ng, nd.sub);
	case GN_REP: {
		int min = nd.min, max = nd.max, ng = nd.ng;
		if (min == 0 && max == 0) return gc__nop(c);
		if (max == -1) {
			if (min == 0) return gc__simple1(c, GN_STAR, ng, nd.sub);
			if (min == 1) return gc__simple1(c, GN_PLUS, ng, nd.sub);
			gfrag f = gc__fail();
			for (int i = 0; i < min - 1; i++) {
				gfrag x = gc__compile(c, nd.sub);
				f = i == 0 ? x : gc__cat(c, f, x);
				if (c->too_big) return gc__fail();
			}
			return gc__cat(c, f, gc__simple1(c, GN_PLUS, ng, nd.sub));
		}
		if (min == 1 && max == 1) return gc__compile(c, nd.sub);
		gfrag prefix = gc__fail();
		int have = 0;
		for (int i = 0; i < min; i++) {
			gfrag x = gc__compile(c, nd.sub);
			prefix = have ? gc__cat(c, prefix, x) : x;
			have = 1;
			if (c->too_big) return gc__fail();
		}
		if (max > min) {
			/* suffix = (x(x(x)?)?)? built from the inside out; the
			   innermost is simplify1(Quest, x) */
			gfrag suffix = gc__simple1(c, GN_QUEST, ng, nd.sub);
			for (int i = min + 1; i < max; i++) {
				gfrag x = gc__compile(c, nd.sub);
				suffix = gc__quest(c, gc__cat(c, x, suffix), ng);
				if (c->too_big) return gc__fail();
			}
			if (!have) return suffix;
			prefix = gc__cat(c, prefix, suffix);
		}
		return prefix;
	}
	case GN_CAT: {
		gfrag f = gc__fail();
		int first = 1;
		for (int k = nd.sub; k >= 0; k = c->g->nodes[k].next) {
			gfrag x = gc__compile(c, k);
			f = first ? x : gc__cat(c, f, x);
			first = 0;
			if (c->too_big) return gc__fail();
		}
		if (first) return gc__nop(c);
		return f;
	}
	case GN_ALT: {
		gfrag f = gc__fail();
		for (int k = nd.sub; k >= 0; k = c->g->nodes[k].next) {
			f = gc__alt(c, f, gc__compile(c, k));
			if (c->too_big) return gc__fail();
		}
		return f;
	}
	}
	return gc__fail();
}

GORE_FN void gore_free(gore *re) {
	if (re == NULL) return;
	free(re->inst);
	free(re->ranges);
	if (re->names)
		for (int i = 0; i <= re->ngroups; i++) free(re->names[i]);
	free(re->names);
	free(re->prefix);
	free(re);
}

/* gore_compile compiles pattern (n bytes) as regexp.Compile does. NULL on
 * error: err holds Go's message, or, with *c_only set, what the C build
 * does not do (the caller says to use the Go build). */
GORE_FN gore *gore_compile(const char *pat, size_t n, char *err, size_t errn, int *c_only) {
	gore_p g;
	memset(&g, 0, sizeof g);
	g.whole = g.p = pat;
	g.end = pat + n;
	g.flags = GF_ONELINE;
	g.err = err;
	g.errn = errn;
	err[0] = '\0';
	*c_only = 0;
	g.names = gore__grow(NULL, &g.cnames, 1, sizeof(char *));
	g.names[0] = NULL;
	gore *re = NULL;
	int root = gore__alt(&g);
	if (root >= 0 && g.p < g.end) { /* a ')' with no '(' */
		gore__err(&g, "unexpected )", pat, n);
		root = -1;
	}
	if (root >= 0) {
		re = calloc(1, sizeof *re);
		if (re == NULL) abort();
		re->ngroups = g.ncap;
		re->names = calloc((size_t)g.ncap + 1, sizeof(char *));
		if (re->names == NULL) abort();
		for (int i = 0; i <= g.ncap; i++) {
			const char *nm = g.names[i] ? g.names[i] : "";
			re->names[i] = malloc(strlen(nm) + 1);
			if (re->names[i] == NULL) abort();
			strcpy(re->names[i], nm);
		}
		gore__prefix(&g, root, re);
		gcomp c;
		memset(&c, 0, sizeof c);
		c.g = &g;
		c.re = re;
		gc__inst(&c, GI_FAIL);
		gfrag f = gc__compile(&c, root);
		uint32_t m = gc__inst(&c, GI_MATCH);
		if (c.too_big || (long)re->ninst * 2 * (re->ngroups + 1) > GORE_MAX_STATE) {
			char num[64];
			snprintf(num, sizeof num, "%d instructions x %d capture slots", re->ninst, 2 * (re->ngroups + 1));
			if (c.too_big) snprintf(num, sizeof num, "over %d instructions", GORE_MAX_INST);
			snprintf(err, errn, "patterns this large (%s; the C build allows %d instructions, %d slots in all)", num,
			         GORE_MAX_INST, GORE_MAX_STATE);
			*c_only = 1;
			gore_free(re);
			re = NULL;
		} else {
			gc__patch(&c, f, m);
			re->start = f.i;
			/* StartCond: \A before anything else anchors the search */
			uint32_t pc = re->start, cond = 0;
			while (pc != 0) {
				gore_inst *in = &re->inst[pc];
				if (in->op == GI_EMPTY) cond |= in->arg;
				else if (in->op != GI_NOP && in->op != GI_CAP) break;
				/* a capture does not change the start condition (Go stops at it,
				   which only costs it speed) */
				if (in->op == GI_CAP) break;
				pc = in->out;
			}
			re->anchored = (cond & GE_BOT) != 0;
		}
	} else if (g.c_only) {
		*c_only = 1;
	}
	for (int i = 0; i <= g.ncap; i++) free(g.names[i]);
	free(g.names);
	free(g.nodes);
	free(g.runes);
	return re;
}

/* ---- the Pike VM ---- */

typedef struct {
	uint32_t *sparse, *dense; /* dense: pcs in priority order */
	int n;
	int *caps; /* [ninst][ncap]: the captures of dense[i]'s thread */
	uint8_t *has; /* dense[i] holds a thread (a rune or match instruction) */
} gq;

static struct {
	uint8_t *mem;
	size_t size;
} gore__scratch;

GORE_FN int gore__word(int32_t r) {
	return (r >= '0' && r <= '9') || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || r == '_';
}

GORE_FN uint32_t gore__cond(int32_t r1, int32_t r2) {
	uint32_t f = 0;
	if (r1 < 0) f |= GE_BOT | GE_BOL;
	else if (r1 == '\n') f |= GE_BOL;
	if (r2 < 0) f |= GE_EOT | GE_EOL;
	else if (r2 == '\n') f |= GE_EOL;
	if (gore__word(r1) != gore__word(r2)) f |= GE_WB;
	else f |= GE_NWB;
	return f;
}

GORE_FN int gore__in(const gore *re, const gore_inst *in, int32_t c) {
	if (c < 0) return 0;
	const uint32_t *r = re->ranges + in->off;
	int lo = 0, hi = in->len / 2 - 1;
	while (lo <= hi) {
		int m = (lo + hi) / 2;
		if ((uint32_t)c < r[2 * m]) hi = m - 1;
		else if ((uint32_t)c > r[2 * m + 1]) lo = m + 1;
		else return 1;
	}
	return 0;
}

typedef struct {
	uint32_t pc;
	int slot; /* -1: explore pc; else restore caps[slot] = val */
	int val;
} gstk;

/* gore__add is the machine's add: follow pc's empty-width closure from
   position pos into q, in priority order, with the captures cap (a
   scratch row, restored on return). */
GORE_FN void gore__add(const gore *re, gq *q, uint32_t pc0, int pos, int *cap, int ncap, uint32_t cond, gstk *stk) {
	int sp = 0;
	stk[sp].pc = pc0;
	stk[sp].slot = -1;
	sp++;
	while (sp > 0) {
		gstk e = stk[--sp];
		if (e.slot >= 0) {
			cap[e.slot] = e.val;
			continue;
		}
		uint32_t pc = e.pc;
		for (;;) {
			if (pc == 0) break;
			uint32_t j = q->sparse[pc];
			if (j < (uint32_t)q->n && q->dense[j] == pc) break;
			j = (uint32_t)q->n++;
			q->dense[j] = pc;
			q->sparse[pc] = j;
			q->has[j] = 0;
			const gore_inst *in = &re->inst[pc];
			if (in->op == GI_FAIL) break;
			if (in->op == GI_ALT) {
				stk[sp].pc = in->arg;
				stk[sp].slot = -1;
				sp++;
				pc = in->out;
				continue;
			}
			if (in->op == GI_EMPTY) {
				if ((in->arg & ~cond) == 0) {
					pc = in->out;
					continue;
				}
				break;
			}
			if (in->op == GI_NOP) {
				pc = in->out;
				continue;
			}
			if (in->op == GI_CAP) {
				int slot = (int)in->arg;
				if (slot < ncap) {
					stk[sp].slot = slot;
					stk[sp].val = cap[slot];
					sp++;
					cap[slot] = pos;
				}
				pc = in->out;
				continue;
			}
			/* rune or match: a thread */
			q->has[j] = 1;
			memcpy(q->caps + (size_t)j * (size_t)ncap, cap, (size_t)ncap * sizeof(int));
			break;
		}
	}
}

/* gore_match runs re on s (n bytes): 1 and the submatch indexes in m
 * (2*(ngroups+1) ints, -1 for groups that did not take part), as
 * FindStringSubmatchIndex; 0 when it does not match. */
GORE_FN int gore_match(const gore *re, const char *s, size_t n, int *m) {
	int ncap = 2 * (re->ngroups + 1);
	size_t ni = (size_t)re->ninst;
	size_t need = 2 * (2 * ni * sizeof(uint32_t) + ni * (size_t)ncap * sizeof(int) + ni) + (2 * ni + 2) * sizeof(gstk) +
	              (size_t)ncap * sizeof(int) + 64;
	if (gore__scratch.size < need) {
		free(gore__scratch.mem);
		gore__scratch.mem = malloc(need);
		if (gore__scratch.mem == NULL) abort();
		gore__scratch.size = need;
	}
	uint8_t *p = gore__scratch.mem;
	gq q[2];
	for (int k = 0; k < 2; k++) {
		q[k].caps = (int *)p;
		p += ni * (size_t)ncap * sizeof(int);
		q[k].sparse = (uint32_t *)p;
		p += ni * sizeof(uint32_t);
		q[k].dense = (uint32_t *)p;
		p += ni * sizeof(uint32_t);
		q[k].has = p;
		p += ni;
		p = (uint8_t *)(((uintptr_t)p + 7) & ~(uintptr_t)7);
		q[k].n = 0;
		memset(q[k].sparse, 0, ni * sizeof(uint32_t));
	}
	gstk *stk = (gstk *)p;
	p += (2 * ni + 2) * sizeof(gstk);
	int *matchcap = (int *)p;
	for (int i = 0; i < ncap; i++) matchcap[i] = -1;
	const unsigned char *u = (const unsigned char *)s;
	int matched = 0;
	gq *runq = &q[0], *nextq = &q[1];
	size_t pos = 0;
	int32_t r = -1, r1 = -1, prev = -1;
	int w = 0, w1 = 0;
#define GORE_STEP(at, rr, ww)                                                         \
	do {                                                                              \
		if ((at) < n) {                                                               \
			if (u[at] < 0x80) {                                                       \
				rr = u[at];                                                           \
				ww = 1;                                                               \
			} else {                                                                  \
				uint32_t dr;                                                          \
				ww = utf8_decode(u + (at), n - (at), &dr);                            \
				rr = (int32_t)dr;                                                     \
			}                                                                         \
		} else {                                                                      \
			rr = -1;                                                                  \
			ww = 0;                                                                   \
		}                                                                             \
	} while (0)
	GORE_STEP(pos, r, w);
	if (r != -1) GORE_STEP(pos + (size_t)w, r1, w1);
	for (;;) {
		if (runq->n == 0) {
			if (re->anchored && pos != 0) break;
			if (matched) break;
		}
		if (!matched && (pos == 0 || !re->anchored)) {
			matchcap[0] = (int)pos;
			gore__add(re, runq, re->start, (int)pos, matchcap, ncap, gore__cond(prev, r), stk);
		}
		uint32_t nextcond = gore__cond(r, r1);
		/* step */
		for (int j = 0; j < runq->n; j++) {
			if (!runq->has[j]) continue;
			const gore_inst *in = &re->inst[runq->dense[j]];
			int *tc = runq->caps + (size_t)j * (size_t)ncap;
			if (in->op == GI_MATCH) {
				tc[1] = (int)pos;
				memcpy(matchcap, tc, (size_t)ncap * sizeof(int));
				matched = 1;
				break; /* cut off the lower-priority threads */
			}
			if (gore__in(re, in, r)) gore__add(re, nextq, in->out, (int)(pos + (size_t)w), tc, ncap, nextcond, stk);
		}
		runq->n = 0;
		if (w == 0) break;
		pos += (size_t)w;
		prev = r;
		r = r1;
		w = w1;
		if (r != -1) GORE_STEP(pos + (size_t)w, r1, w1);
		gq *t = runq;
		runq = nextq;
		nextq = t;
	}
#undef GORE_STEP
	if (!matched) return 0;
	memcpy(m, matchcap, (size_t)ncap * sizeof(int));
	return 1;
}

/* gore_index returns the group named name (the first one), or -1
 * (SubexpIndex). */
GORE_FN int gore_index(const gore *re, const char *name, size_t n) {
	if (n == 0) return -1;
	for (int i = 0; i <= re->ngroups; i++)
		if (strlen(re->names[i]) == n && memcmp(re->names[i], name, n) == 0) return i;
	return -1;
}

#endif
