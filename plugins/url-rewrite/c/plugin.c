/*
 * url-rewrite, the C build: the bundled HTTP rewrite plugin, ported from
 * the Go reference (../config.go, ../rewrite.go, ../response.go) so that it
 * behaves identically (../c_test.go runs both in the real host and compares
 * every verdict, field and counter, and the submatches of many patterns
 * against Go's regexp). Ordered rules match a request's host, path
 * (a regular expression) and method and rewrite its path, query, host and
 * headers, or answer it with a redirect; response rules edit the
 * upstream's response headers.
 *
 * Build (from the repository root): make plugins/url-rewrite/c/plugin.wasm
 *
 * The regular expressions are Go's (RE2 syntax, leftmost-first
 * submatches) through ../../internal/gore/gore.h, a Pike VM: no
 * backtracking, memory fixed per pattern. Patterns it cannot run exactly
 * as Go does (Unicode classes \p{...}, very large programs) are refused
 * at load, naming the rule and the key and
 * saying to use the Go build; see ../README.md "The C build".
 *
 * Go semantics kept here on purpose:
 *   - the configuration is decoded as encoding/json does: keys matched
 *     case-insensitively, unknown keys refused, the first type error
 *     reported with the field's path, null resetting pointers, maps and
 *     slices, duplicate keys merging maps and structs behind pointers,
 *     slices refilling their backing array;
 *   - templates are regexp.Expand's ($1, ${1}, ${name}, $$; a name runs
 *     over Unicode letters and digits: the table below is generated from
 *     Go's unicode package) and checkTemplate's checks;
 *   - hosts are lower-cased with unicode.ToLower (table from Go's unicode
 *     package, as in login-normaliser's C build), addresses parsed and
 *     printed as net/netip does.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postern.h"
#include "../../internal/jr/jr.h"
#include "../../internal/golower/golower.h"
#include "../../internal/netip/netip.h"
#include "../../internal/gore/gore.h"

POSTERN_ABI_VERSION_EXPORT()


/* Generated from Go's unicode.IsLetter || unicode.IsDigit for runes >= 0x80 (regexp.Expand's names). */
static const uint32_t letdig[][2] = {
	{0xAA, 0xAA}, {0xB5, 0xB5}, {0xBA, 0xBA}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x2C1}, 
	{0x2C6, 0x2D1}, {0x2E0, 0x2E4}, {0x2EC, 0x2EC}, {0x2EE, 0x2EE}, {0x370, 0x374}, {0x376, 0x377}, 
	{0x37A, 0x37D}, {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x3A1}, 
	{0x3A3, 0x3F5}, {0x3F7, 0x481}, {0x48A, 0x52F}, {0x531, 0x556}, {0x559, 0x559}, {0x560, 0x588}, 
	{0x5D0, 0x5EA}, {0x5EF, 0x5F2}, {0x620, 0x64A}, {0x660, 0x669}, {0x66E, 0x66F}, {0x671, 0x6D3}, 
	{0x6D5, 0x6D5}, {0x6E5, 0x6E6}, {0x6EE, 0x6FC}, {0x6FF, 0x6FF}, {0x710, 0x710}, {0x712, 0x72F}, 
	{0x74D, 0x7A5}, {0x7B1, 0x7B1}, {0x7C0, 0x7EA}, {0x7F4, 0x7F5}, {0x7FA, 0x7FA}, {0x800, 0x815}, 
	{0x81A, 0x81A}, {0x824, 0x824}, {0x828, 0x828}, {0x840, 0x858}, {0x860, 0x86A}, {0x870, 0x887}, 
	{0x889, 0x88E}, {0x8A0, 0x8C9}, {0x904, 0x939}, {0x93D, 0x93D}, {0x950, 0x950}, {0x958, 0x961}, 
	{0x966, 0x96F}, {0x971, 0x980}, {0x985, 0x98C}, {0x98F, 0x990}, {0x993, 0x9A8}, {0x9AA, 0x9B0}, 
	{0x9B2, 0x9B2}, {0x9B6, 0x9B9}, {0x9BD, 0x9BD}, {0x9CE, 0x9CE}, {0x9DC, 0x9DD}, {0x9DF, 0x9E1}, 
	{0x9E6, 0x9F1}, {0x9FC, 0x9FC}, {0xA05, 0xA0A}, {0xA0F, 0xA10}, {0xA13, 0xA28}, {0xA2A, 0xA30}, 
	{0xA32, 0xA33}, {0xA35, 0xA36}, {0xA38, 0xA39}, {0xA59, 0xA5C}, {0xA5E, 0xA5E}, {0xA66, 0xA6F}, 
	{0xA72, 0xA74}, {0xA85, 0xA8D}, {0xA8F, 0xA91}, {0xA93, 0xAA8}, {0xAAA, 0xAB0}, {0xAB2, 0xAB3}, 
	{0xAB5, 0xAB9}, {0xABD, 0xABD}, {0xAD0, 0xAD0}, {0xAE0, 0xAE1}, {0xAE6, 0xAEF}, {0xAF9, 0xAF9}, 
	{0xB05, 0xB0C}, {0xB0F, 0xB10}, {0xB13, 0xB28}, {0xB2A, 0xB30}, {0xB32, 0xB33}, {0xB35, 0xB39}, 
	{0xB3D, 0xB3D}, {0xB5C, 0xB5D}, {0xB5F, 0xB61}, {0xB66, 0xB6F}, {0xB71, 0xB71}, {0xB83, 0xB83}, 
	{0xB85, 0xB8A}, {0xB8E, 0xB90}, {0xB92, 0xB95}, {0xB99, 0xB9A}, {0xB9C, 0xB9C}, {0xB9E, 0xB9F}, 
	{0xBA3, 0xBA4}, {0xBA8, 0xBAA}, {0xBAE, 0xBB9}, {0xBD0, 0xBD0}, {0xBE6, 0xBEF}, {0xC05, 0xC0C}, 
	{0xC0E, 0xC10}, {0xC12, 0xC28}, {0xC2A, 0xC39}, {0xC3D, 0xC3D}, {0xC58, 0xC5A}, {0xC5D, 0xC5D}, 
	{0xC60, 0xC61}, {0xC66, 0xC6F}, {0xC80, 0xC80}, {0xC85, 0xC8C}, {0xC8E, 0xC90}, {0xC92, 0xCA8}, 
	{0xCAA, 0xCB3}, {0xCB5, 0xCB9}, {0xCBD, 0xCBD}, {0xCDD, 0xCDE}, {0xCE0, 0xCE1}, {0xCE6, 0xCEF}, 
	{0xCF1, 0xCF2}, {0xD04, 0xD0C}, {0xD0E, 0xD10}, {0xD12, 0xD3A}, {0xD3D, 0xD3D}, {0xD4E, 0xD4E}, 
	{0xD54, 0xD56}, {0xD5F, 0xD61}, {0xD66, 0xD6F}, {0xD7A, 0xD7F}, {0xD85, 0xD96}, {0xD9A, 0xDB1}, 
	{0xDB3, 0xDBB}, {0xDBD, 0xDBD}, {0xDC0, 0xDC6}, {0xDE6, 0xDEF}, {0xE01, 0xE30}, {0xE32, 0xE33}, 
	{0xE40, 0xE46}, {0xE50, 0xE59}, {0xE81, 0xE82}, {0xE84, 0xE84}, {0xE86, 0xE8A}, {0xE8C, 0xEA3}, 
	{0xEA5, 0xEA5}, {0xEA7, 0xEB0}, {0xEB2, 0xEB3}, {0xEBD, 0xEBD}, {0xEC0, 0xEC4}, {0xEC6, 0xEC6}, 
	{0xED0, 0xED9}, {0xEDC, 0xEDF}, {0xF00, 0xF00}, {0xF20, 0xF29}, {0xF40, 0xF47}, {0xF49, 0xF6C}, 
	{0xF88, 0xF8C}, {0x1000, 0x102A}, {0x103F, 0x1049}, {0x1050, 0x1055}, {0x105A, 0x105D}, {0x1061, 0x1061}, 
	{0x1065, 0x1066}, {0x106E, 0x1070}, {0x1075, 0x1081}, {0x108E, 0x108E}, {0x1090, 0x1099}, {0x10A0, 0x10C5}, 
	{0x10C7, 0x10C7}, {0x10CD, 0x10CD}, {0x10D0, 0x10FA}, {0x10FC, 0x1248}, {0x124A, 0x124D}, {0x1250, 0x1256}, 
	{0x1258, 0x1258}, {0x125A, 0x125D}, {0x1260, 0x1288}, {0x128A, 0x128D}, {0x1290, 0x12B0}, {0x12B2, 0x12B5}, 
	{0x12B8, 0x12BE}, {0x12C0, 0x12C0}, {0x12C2, 0x12C5}, {0x12C8, 0x12D6}, {0x12D8, 0x1310}, {0x1312, 0x1315}, 
	{0x1318, 0x135A}, {0x1380, 0x138F}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1401, 0x166C}, {0x166F, 0x167F}, 
	{0x1681, 0x169A}, {0x16A0, 0x16EA}, {0x16F1, 0x16F8}, {0x1700, 0x1711}, {0x171F, 0x1731}, {0x1740, 0x1751}, 
	{0x1760, 0x176C}, {0x176E, 0x1770}, {0x1780, 0x17B3}, {0x17D7, 0x17D7}, {0x17DC, 0x17DC}, {0x17E0, 0x17E9}, 
	{0x1810, 0x1819}, {0x1820, 0x1878}, {0x1880, 0x1884}, {0x1887, 0x18A8}, {0x18AA, 0x18AA}, {0x18B0, 0x18F5}, 
	{0x1900, 0x191E}, {0x1946, 0x196D}, {0x1970, 0x1974}, {0x1980, 0x19AB}, {0x19B0, 0x19C9}, {0x19D0, 0x19D9}, 
	{0x1A00, 0x1A16}, {0x1A20, 0x1A54}, {0x1A80, 0x1A89}, {0x1A90, 0x1A99}, {0x1AA7, 0x1AA7}, {0x1B05, 0x1B33}, 
	{0x1B45, 0x1B4C}, {0x1B50, 0x1B59}, {0x1B83, 0x1BA0}, {0x1BAE, 0x1BE5}, {0x1C00, 0x1C23}, {0x1C40, 0x1C49}, 
	{0x1C4D, 0x1C7D}, {0x1C80, 0x1C88}, {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF}, {0x1CE9, 0x1CEC}, {0x1CEE, 0x1CF3}, 
	{0x1CF5, 0x1CF6}, {0x1CFA, 0x1CFA}, {0x1D00, 0x1DBF}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, 
	{0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, 
	{0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, 
	{0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2071, 0x2071}, {0x207F, 0x207F}, 
	{0x2090, 0x209C}, {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, 
	{0x2124, 0x2124}, {0x2126, 0x2126}, {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2139}, {0x213C, 0x213F}, 
	{0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2CE4}, {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3}, 
	{0x2D00, 0x2D25}, {0x2D27, 0x2D27}, {0x2D2D, 0x2D2D}, {0x2D30, 0x2D67}, {0x2D6F, 0x2D6F}, {0x2D80, 0x2D96}, 
	{0x2DA0, 0x2DA6}, {0x2DA8, 0x2DAE}, {0x2DB0, 0x2DB6}, {0x2DB8, 0x2DBE}, {0x2DC0, 0x2DC6}, {0x2DC8, 0x2DCE}, 
	{0x2DD0, 0x2DD6}, {0x2DD8, 0x2DDE}, {0x2E2F, 0x2E2F}, {0x3005, 0x3006}, {0x3031, 0x3035}, {0x303B, 0x303C}, 
	{0x3041, 0x3096}, {0x309D, 0x309F}, {0x30A1, 0x30FA}, {0x30FC, 0x30FF}, {0x3105, 0x312F}, {0x3131, 0x318E}, 
	{0x31A0, 0x31BF}, {0x31F0, 0x31FF}, {0x3400, 0x4DBF}, {0x4E00, 0xA48C}, {0xA4D0, 0xA4FD}, {0xA500, 0xA60C}, 
	{0xA610, 0xA62B}, {0xA640, 0xA66E}, {0xA67F, 0xA69D}, {0xA6A0, 0xA6E5}, {0xA717, 0xA71F}, {0xA722, 0xA788}, 
	{0xA78B, 0xA7CA}, {0xA7D0, 0xA7D1}, {0xA7D3, 0xA7D3}, {0xA7D5, 0xA7D9}, {0xA7F2, 0xA801}, {0xA803, 0xA805}, 
	{0xA807, 0xA80A}, {0xA80C, 0xA822}, {0xA840, 0xA873}, {0xA882, 0xA8B3}, {0xA8D0, 0xA8D9}, {0xA8F2, 0xA8F7}, 
	{0xA8FB, 0xA8FB}, {0xA8FD, 0xA8FE}, {0xA900, 0xA925}, {0xA930, 0xA946}, {0xA960, 0xA97C}, {0xA984, 0xA9B2}, 
	{0xA9CF, 0xA9D9}, {0xA9E0, 0xA9E4}, {0xA9E6, 0xA9FE}, {0xAA00, 0xAA28}, {0xAA40, 0xAA42}, {0xAA44, 0xAA4B}, 
	{0xAA50, 0xAA59}, {0xAA60, 0xAA76}, {0xAA7A, 0xAA7A}, {0xAA7E, 0xAAAF}, {0xAAB1, 0xAAB1}, {0xAAB5, 0xAAB6}, 
	{0xAAB9, 0xAABD}, {0xAAC0, 0xAAC0}, {0xAAC2, 0xAAC2}, {0xAADB, 0xAADD}, {0xAAE0, 0xAAEA}, {0xAAF2, 0xAAF4}, 
	{0xAB01, 0xAB06}, {0xAB09, 0xAB0E}, {0xAB11, 0xAB16}, {0xAB20, 0xAB26}, {0xAB28, 0xAB2E}, {0xAB30, 0xAB5A}, 
	{0xAB5C, 0xAB69}, {0xAB70, 0xABE2}, {0xABF0, 0xABF9}, {0xAC00, 0xD7A3}, {0xD7B0, 0xD7C6}, {0xD7CB, 0xD7FB}, 
	{0xF900, 0xFA6D}, {0xFA70, 0xFAD9}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFB1D, 0xFB1D}, {0xFB1F, 0xFB28}, 
	{0xFB2A, 0xFB36}, {0xFB38, 0xFB3C}, {0xFB3E, 0xFB3E}, {0xFB40, 0xFB41}, {0xFB43, 0xFB44}, {0xFB46, 0xFBB1}, 
	{0xFBD3, 0xFD3D}, {0xFD50, 0xFD8F}, {0xFD92, 0xFDC7}, {0xFDF0, 0xFDFB}, {0xFE70, 0xFE74}, {0xFE76, 0xFEFC}, 
	{0xFF10, 0xFF19}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0xFF66, 0xFFBE}, {0xFFC2, 0xFFC7}, {0xFFCA, 0xFFCF}, 
	{0xFFD2, 0xFFD7}, {0xFFDA, 0xFFDC}, {0x10000, 0x1000B}, {0x1000D, 0x10026}, {0x10028, 0x1003A}, {0x1003C, 0x1003D}, 
	{0x1003F, 0x1004D}, {0x10050, 0x1005D}, {0x10080, 0x100FA}, {0x10280, 0x1029C}, {0x102A0, 0x102D0}, {0x10300, 0x1031F}, 
	{0x1032D, 0x10340}, {0x10342, 0x10349}, {0x10350, 0x10375}, {0x10380, 0x1039D}, {0x103A0, 0x103C3}, {0x103C8, 0x103CF}, 
	{0x10400, 0x1049D}, {0x104A0, 0x104A9}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB}, {0x10500, 0x10527}, {0x10530, 0x10563}, 
	{0x10570, 0x1057A}, {0x1057C, 0x1058A}, {0x1058C, 0x10592}, {0x10594, 0x10595}, {0x10597, 0x105A1}, {0x105A3, 0x105B1}, 
	{0x105B3, 0x105B9}, {0x105BB, 0x105BC}, {0x10600, 0x10736}, {0x10740, 0x10755}, {0x10760, 0x10767}, {0x10780, 0x10785}, 
	{0x10787, 0x107B0}, {0x107B2, 0x107BA}, {0x10800, 0x10805}, {0x10808, 0x10808}, {0x1080A, 0x10835}, {0x10837, 0x10838}, 
	{0x1083C, 0x1083C}, {0x1083F, 0x10855}, {0x10860, 0x10876}, {0x10880, 0x1089E}, {0x108E0, 0x108F2}, {0x108F4, 0x108F5}, 
	{0x10900, 0x10915}, {0x10920, 0x10939}, {0x10980, 0x109B7}, {0x109BE, 0x109BF}, {0x10A00, 0x10A00}, {0x10A10, 0x10A13}, 
	{0x10A15, 0x10A17}, {0x10A19, 0x10A35}, {0x10A60, 0x10A7C}, {0x10A80, 0x10A9C}, {0x10AC0, 0x10AC7}, {0x10AC9, 0x10AE4}, 
	{0x10B00, 0x10B35}, {0x10B40, 0x10B55}, {0x10B60, 0x10B72}, {0x10B80, 0x10B91}, {0x10C00, 0x10C48}, {0x10C80, 0x10CB2}, 
	{0x10CC0, 0x10CF2}, {0x10D00, 0x10D23}, {0x10D30, 0x10D39}, {0x10E80, 0x10EA9}, {0x10EB0, 0x10EB1}, {0x10F00, 0x10F1C}, 
	{0x10F27, 0x10F27}, {0x10F30, 0x10F45}, {0x10F70, 0x10F81}, {0x10FB0, 0x10FC4}, {0x10FE0, 0x10FF6}, {0x11003, 0x11037}, 
	{0x11066, 0x1106F}, {0x11071, 0x11072}, {0x11075, 0x11075}, {0x11083, 0x110AF}, {0x110D0, 0x110E8}, {0x110F0, 0x110F9}, 
	{0x11103, 0x11126}, {0x11136, 0x1113F}, {0x11144, 0x11144}, {0x11147, 0x11147}, {0x11150, 0x11172}, {0x11176, 0x11176}, 
	{0x11183, 0x111B2}, {0x111C1, 0x111C4}, {0x111D0, 0x111DA}, {0x111DC, 0x111DC}, {0x11200, 0x11211}, {0x11213, 0x1122B}, 
	{0x1123F, 0x11240}, {0x11280, 0x11286}, {0x11288, 0x11288}, {0x1128A, 0x1128D}, {0x1128F, 0x1129D}, {0x1129F, 0x112A8}, 
	{0x112B0, 0x112DE}, {0x112F0, 0x112F9}, {0x11305, 0x1130C}, {0x1130F, 0x11310}, {0x11313, 0x11328}, {0x1132A, 0x11330}, 
	{0x11332, 0x11333}, {0x11335, 0x11339}, {0x1133D, 0x1133D}, {0x11350, 0x11350}, {0x1135D, 0x11361}, {0x11400, 0x11434}, 
	{0x11447, 0x1144A}, {0x11450, 0x11459}, {0x1145F, 0x11461}, {0x11480, 0x114AF}, {0x114C4, 0x114C5}, {0x114C7, 0x114C7}, 
	{0x114D0, 0x114D9}, {0x11580, 0x115AE}, {0x115D8, 0x115DB}, {0x11600, 0x1162F}, {0x11644, 0x11644}, {0x11650, 0x11659}, 
	{0x11680, 0x116AA}, {0x116B8, 0x116B8}, {0x116C0, 0x116C9}, {0x11700, 0x1171A}, {0x11730, 0x11739}, {0x11740, 0x11746}, 
	{0x11800, 0x1182B}, {0x118A0, 0x118E9}, {0x118FF, 0x11906}, {0x11909, 0x11909}, {0x1190C, 0x11913}, {0x11915, 0x11916}, 
	{0x11918, 0x1192F}, {0x1193F, 0x1193F}, {0x11941, 0x11941}, {0x11950, 0x11959}, {0x119A0, 0x119A7}, {0x119AA, 0x119D0}, 
	{0x119E1, 0x119E1}, {0x119E3, 0x119E3}, {0x11A00, 0x11A00}, {0x11A0B, 0x11A32}, {0x11A3A, 0x11A3A}, {0x11A50, 0x11A50}, 
	{0x11A5C, 0x11A89}, {0x11A9D, 0x11A9D}, {0x11AB0, 0x11AF8}, {0x11C00, 0x11C08}, {0x11C0A, 0x11C2E}, {0x11C40, 0x11C40}, 
	{0x11C50, 0x11C59}, {0x11C72, 0x11C8F}, {0x11D00, 0x11D06}, {0x11D08, 0x11D09}, {0x11D0B, 0x11D30}, {0x11D46, 0x11D46}, 
	{0x11D50, 0x11D59}, {0x11D60, 0x11D65}, {0x11D67, 0x11D68}, {0x11D6A, 0x11D89}, {0x11D98, 0x11D98}, {0x11DA0, 0x11DA9}, 
	{0x11EE0, 0x11EF2}, {0x11F02, 0x11F02}, {0x11F04, 0x11F10}, {0x11F12, 0x11F33}, {0x11F50, 0x11F59}, {0x11FB0, 0x11FB0}, 
	{0x12000, 0x12399}, {0x12480, 0x12543}, {0x12F90, 0x12FF0}, {0x13000, 0x1342F}, {0x13441, 0x13446}, {0x14400, 0x14646}, 
	{0x16800, 0x16A38}, {0x16A40, 0x16A5E}, {0x16A60, 0x16A69}, {0x16A70, 0x16ABE}, {0x16AC0, 0x16AC9}, {0x16AD0, 0x16AED}, 
	{0x16B00, 0x16B2F}, {0x16B40, 0x16B43}, {0x16B50, 0x16B59}, {0x16B63, 0x16B77}, {0x16B7D, 0x16B8F}, {0x16E40, 0x16E7F}, 
	{0x16F00, 0x16F4A}, {0x16F50, 0x16F50}, {0x16F93, 0x16F9F}, {0x16FE0, 0x16FE1}, {0x16FE3, 0x16FE3}, {0x17000, 0x187F7}, 
	{0x18800, 0x18CD5}, {0x18D00, 0x18D08}, {0x1AFF0, 0x1AFF3}, {0x1AFF5, 0x1AFFB}, {0x1AFFD, 0x1AFFE}, {0x1B000, 0x1B122}, 
	{0x1B132, 0x1B132}, {0x1B150, 0x1B152}, {0x1B155, 0x1B155}, {0x1B164, 0x1B167}, {0x1B170, 0x1B2FB}, {0x1BC00, 0x1BC6A}, 
	{0x1BC70, 0x1BC7C}, {0x1BC80, 0x1BC88}, {0x1BC90, 0x1BC99}, {0x1D400, 0x1D454}, {0x1D456, 0x1D49C}, {0x1D49E, 0x1D49F}, 
	{0x1D4A2, 0x1D4A2}, {0x1D4A5, 0x1D4A6}, {0x1D4A9, 0x1D4AC}, {0x1D4AE, 0x1D4B9}, {0x1D4BB, 0x1D4BB}, {0x1D4BD, 0x1D4C3}, 
	{0x1D4C5, 0x1D505}, {0x1D507, 0x1D50A}, {0x1D50D, 0x1D514}, {0x1D516, 0x1D51C}, {0x1D51E, 0x1D539}, {0x1D53B, 0x1D53E}, 
	{0x1D540, 0x1D544}, {0x1D546, 0x1D546}, {0x1D54A, 0x1D550}, {0x1D552, 0x1D6A5}, {0x1D6A8, 0x1D6C0}, {0x1D6C2, 0x1D6DA}, 
	{0x1D6DC, 0x1D6FA}, {0x1D6FC, 0x1D714}, {0x1D716, 0x1D734}, {0x1D736, 0x1D74E}, {0x1D750, 0x1D76E}, {0x1D770, 0x1D788}, 
	{0x1D78A, 0x1D7A8}, {0x1D7AA, 0x1D7C2}, {0x1D7C4, 0x1D7CB}, {0x1D7CE, 0x1D7FF}, {0x1DF00, 0x1DF1E}, {0x1DF25, 0x1DF2A}, 
	{0x1E030, 0x1E06D}, {0x1E100, 0x1E12C}, {0x1E137, 0x1E13D}, {0x1E140, 0x1E149}, {0x1E14E, 0x1E14E}, {0x1E290, 0x1E2AD}, 
	{0x1E2C0, 0x1E2EB}, {0x1E2F0, 0x1E2F9}, {0x1E4D0, 0x1E4EB}, {0x1E4F0, 0x1E4F9}, {0x1E7E0, 0x1E7E6}, {0x1E7E8, 0x1E7EB}, 
	{0x1E7ED, 0x1E7EE}, {0x1E7F0, 0x1E7FE}, {0x1E800, 0x1E8C4}, {0x1E900, 0x1E943}, {0x1E94B, 0x1E94B}, {0x1E950, 0x1E959}, 
	{0x1EE00, 0x1EE03}, {0x1EE05, 0x1EE1F}, {0x1EE21, 0x1EE22}, {0x1EE24, 0x1EE24}, {0x1EE27, 0x1EE27}, {0x1EE29, 0x1EE32}, 
	{0x1EE34, 0x1EE37}, {0x1EE39, 0x1EE39}, {0x1EE3B, 0x1EE3B}, {0x1EE42, 0x1EE42}, {0x1EE47, 0x1EE47}, {0x1EE49, 0x1EE49}, 
	{0x1EE4B, 0x1EE4B}, {0x1EE4D, 0x1EE4F}, {0x1EE51, 0x1EE52}, {0x1EE54, 0x1EE54}, {0x1EE57, 0x1EE57}, {0x1EE59, 0x1EE59}, 
	{0x1EE5B, 0x1EE5B}, {0x1EE5D, 0x1EE5D}, {0x1EE5F, 0x1EE5F}, {0x1EE61, 0x1EE62}, {0x1EE64, 0x1EE64}, {0x1EE67, 0x1EE6A}, 
	{0x1EE6C, 0x1EE72}, {0x1EE74, 0x1EE77}, {0x1EE79, 0x1EE7C}, {0x1EE7E, 0x1EE7E}, {0x1EE80, 0x1EE89}, {0x1EE8B, 0x1EE9B}, 
	{0x1EEA1, 0x1EEA3}, {0x1EEA5, 0x1EEA9}, {0x1EEAB, 0x1EEBB}, {0x1FBF0, 0x1FBF9}, {0x20000, 0x2A6DF}, {0x2A700, 0x2B739}, 
	{0x2B740, 0x2B81D}, {0x2B820, 0x2CEA1}, {0x2CEB0, 0x2EBE0}, {0x2F800, 0x2FA1D}, {0x30000, 0x3134A}, {0x31350, 0x323AF}, 
};


/* Generated from Go's unicode.IsPrint for runes >= 0x80 (strconv.Quote in messages). */
static const uint32_t isprint_tab[][2] = {
	{0xA1, 0xAC}, {0xAE, 0x377}, {0x37A, 0x37F}, {0x384, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x3A1}, 
	{0x3A3, 0x52F}, {0x531, 0x556}, {0x559, 0x58A}, {0x58D, 0x58F}, {0x591, 0x5C7}, {0x5D0, 0x5EA}, 
	{0x5EF, 0x5F4}, {0x606, 0x61B}, {0x61D, 0x6DC}, {0x6DE, 0x70D}, {0x710, 0x74A}, {0x74D, 0x7B1}, 
	{0x7C0, 0x7FA}, {0x7FD, 0x82D}, {0x830, 0x83E}, {0x840, 0x85B}, {0x85E, 0x85E}, {0x860, 0x86A}, 
	{0x870, 0x88E}, {0x898, 0x8E1}, {0x8E3, 0x983}, {0x985, 0x98C}, {0x98F, 0x990}, {0x993, 0x9A8}, 
	{0x9AA, 0x9B0}, {0x9B2, 0x9B2}, {0x9B6, 0x9B9}, {0x9BC, 0x9C4}, {0x9C7, 0x9C8}, {0x9CB, 0x9CE}, 
	{0x9D7, 0x9D7}, {0x9DC, 0x9DD}, {0x9DF, 0x9E3}, {0x9E6, 0x9FE}, {0xA01, 0xA03}, {0xA05, 0xA0A}, 
	{0xA0F, 0xA10}, {0xA13, 0xA28}, {0xA2A, 0xA30}, {0xA32, 0xA33}, {0xA35, 0xA36}, {0xA38, 0xA39}, 
	{0xA3C, 0xA3C}, {0xA3E, 0xA42}, {0xA47, 0xA48}, {0xA4B, 0xA4D}, {0xA51, 0xA51}, {0xA59, 0xA5C}, 
	{0xA5E, 0xA5E}, {0xA66, 0xA76}, {0xA81, 0xA83}, {0xA85, 0xA8D}, {0xA8F, 0xA91}, {0xA93, 0xAA8}, 
	{0xAAA, 0xAB0}, {0xAB2, 0xAB3}, {0xAB5, 0xAB9}, {0xABC, 0xAC5}, {0xAC7, 0xAC9}, {0xACB, 0xACD}, 
	{0xAD0, 0xAD0}, {0xAE0, 0xAE3}, {0xAE6, 0xAF1}, {0xAF9, 0xAFF}, {0xB01, 0xB03}, {0xB05, 0xB0C}, 
	{0xB0F, 0xB10}, {0xB13, 0xB28}, {0xB2A, 0xB30}, {0xB32, 0xB33}, {0xB35, 0xB39}, {0xB3C, 0xB44}, 
	{0xB47, 0xB48}, {0xB4B, 0xB4D}, {0xB55, 0xB57}, {0xB5C, 0xB5D}, {0xB5F, 0xB63}, {0xB66, 0xB77}, 
	{0xB82, 0xB83}, {0xB85, 0xB8A}, {0xB8E, 0xB90}, {0xB92, 0xB95}, {0xB99, 0xB9A}, {0xB9C, 0xB9C}, 
	{0xB9E, 0xB9F}, {0xBA3, 0xBA4}, {0xBA8, 0xBAA}, {0xBAE, 0xBB9}, {0xBBE, 0xBC2}, {0xBC6, 0xBC8}, 
	{0xBCA, 0xBCD}, {0xBD0, 0xBD0}, {0xBD7, 0xBD7}, {0xBE6, 0xBFA}, {0xC00, 0xC0C}, {0xC0E, 0xC10}, 
	{0xC12, 0xC28}, {0xC2A, 0xC39}, {0xC3C, 0xC44}, {0xC46, 0xC48}, {0xC4A, 0xC4D}, {0xC55, 0xC56}, 
	{0xC58, 0xC5A}, {0xC5D, 0xC5D}, {0xC60, 0xC63}, {0xC66, 0xC6F}, {0xC77, 0xC8C}, {0xC8E, 0xC90}, 
	{0xC92, 0xCA8}, {0xCAA, 0xCB3}, {0xCB5, 0xCB9}, {0xCBC, 0xCC4}, {0xCC6, 0xCC8}, {0xCCA, 0xCCD}, 
	{0xCD5, 0xCD6}, {0xCDD, 0xCDE}, {0xCE0, 0xCE3}, {0xCE6, 0xCEF}, {0xCF1, 0xCF3}, {0xD00, 0xD0C}, 
	{0xD0E, 0xD10}, {0xD12, 0xD44}, {0xD46, 0xD48}, {0xD4A, 0xD4F}, {0xD54, 0xD63}, {0xD66, 0xD7F}, 
	{0xD81, 0xD83}, {0xD85, 0xD96}, {0xD9A, 0xDB1}, {0xDB3, 0xDBB}, {0xDBD, 0xDBD}, {0xDC0, 0xDC6}, 
	{0xDCA, 0xDCA}, {0xDCF, 0xDD4}, {0xDD6, 0xDD6}, {0xDD8, 0xDDF}, {0xDE6, 0xDEF}, {0xDF2, 0xDF4}, 
	{0xE01, 0xE3A}, {0xE3F, 0xE5B}, {0xE81, 0xE82}, {0xE84, 0xE84}, {0xE86, 0xE8A}, {0xE8C, 0xEA3}, 
	{0xEA5, 0xEA5}, {0xEA7, 0xEBD}, {0xEC0, 0xEC4}, {0xEC6, 0xEC6}, {0xEC8, 0xECE}, {0xED0, 0xED9}, 
	{0xEDC, 0xEDF}, {0xF00, 0xF47}, {0xF49, 0xF6C}, {0xF71, 0xF97}, {0xF99, 0xFBC}, {0xFBE, 0xFCC}, 
	{0xFCE, 0xFDA}, {0x1000, 0x10C5}, {0x10C7, 0x10C7}, {0x10CD, 0x10CD}, {0x10D0, 0x1248}, {0x124A, 0x124D}, 
	{0x1250, 0x1256}, {0x1258, 0x1258}, {0x125A, 0x125D}, {0x1260, 0x1288}, {0x128A, 0x128D}, {0x1290, 0x12B0}, 
	{0x12B2, 0x12B5}, {0x12B8, 0x12BE}, {0x12C0, 0x12C0}, {0x12C2, 0x12C5}, {0x12C8, 0x12D6}, {0x12D8, 0x1310}, 
	{0x1312, 0x1315}, {0x1318, 0x135A}, {0x135D, 0x137C}, {0x1380, 0x1399}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, 
	{0x1400, 0x167F}, {0x1681, 0x169C}, {0x16A0, 0x16F8}, {0x1700, 0x1715}, {0x171F, 0x1736}, {0x1740, 0x1753}, 
	{0x1760, 0x176C}, {0x176E, 0x1770}, {0x1772, 0x1773}, {0x1780, 0x17DD}, {0x17E0, 0x17E9}, {0x17F0, 0x17F9}, 
	{0x1800, 0x180D}, {0x180F, 0x1819}, {0x1820, 0x1878}, {0x1880, 0x18AA}, {0x18B0, 0x18F5}, {0x1900, 0x191E}, 
	{0x1920, 0x192B}, {0x1930, 0x193B}, {0x1940, 0x1940}, {0x1944, 0x196D}, {0x1970, 0x1974}, {0x1980, 0x19AB}, 
	{0x19B0, 0x19C9}, {0x19D0, 0x19DA}, {0x19DE, 0x1A1B}, {0x1A1E, 0x1A5E}, {0x1A60, 0x1A7C}, {0x1A7F, 0x1A89}, 
	{0x1A90, 0x1A99}, {0x1AA0, 0x1AAD}, {0x1AB0, 0x1ACE}, {0x1B00, 0x1B4C}, {0x1B50, 0x1B7E}, {0x1B80, 0x1BF3}, 
	{0x1BFC, 0x1C37}, {0x1C3B, 0x1C49}, {0x1C4D, 0x1C88}, {0x1C90, 0x1CBA}, {0x1CBD, 0x1CC7}, {0x1CD0, 0x1CFA}, 
	{0x1D00, 0x1F15}, {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, 
	{0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FC4}, {0x1FC6, 0x1FD3}, 
	{0x1FD6, 0x1FDB}, {0x1FDD, 0x1FEF}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFE}, {0x2010, 0x2027}, {0x2030, 0x205E}, 
	{0x2070, 0x2071}, {0x2074, 0x208E}, {0x2090, 0x209C}, {0x20A0, 0x20C0}, {0x20D0, 0x20F0}, {0x2100, 0x218B}, 
	{0x2190, 0x2426}, {0x2440, 0x244A}, {0x2460, 0x2B73}, {0x2B76, 0x2B95}, {0x2B97, 0x2CF3}, {0x2CF9, 0x2D25}, 
	{0x2D27, 0x2D27}, {0x2D2D, 0x2D2D}, {0x2D30, 0x2D67}, {0x2D6F, 0x2D70}, {0x2D7F, 0x2D96}, {0x2DA0, 0x2DA6}, 
	{0x2DA8, 0x2DAE}, {0x2DB0, 0x2DB6}, {0x2DB8, 0x2DBE}, {0x2DC0, 0x2DC6}, {0x2DC8, 0x2DCE}, {0x2DD0, 0x2DD6}, 
	{0x2DD8, 0x2DDE}, {0x2DE0, 0x2E5D}, {0x2E80, 0x2E99}, {0x2E9B, 0x2EF3}, {0x2F00, 0x2FD5}, {0x2FF0, 0x2FFB}, 
	{0x3001, 0x303F}, {0x3041, 0x3096}, {0x3099, 0x30FF}, {0x3105, 0x312F}, {0x3131, 0x318E}, {0x3190, 0x31E3}, 
	{0x31F0, 0x321E}, {0x3220, 0xA48C}, {0xA490, 0xA4C6}, {0xA4D0, 0xA62B}, {0xA640, 0xA6F7}, {0xA700, 0xA7CA}, 
	{0xA7D0, 0xA7D1}, {0xA7D3, 0xA7D3}, {0xA7D5, 0xA7D9}, {0xA7F2, 0xA82C}, {0xA830, 0xA839}, {0xA840, 0xA877}, 
	{0xA880, 0xA8C5}, {0xA8CE, 0xA8D9}, {0xA8E0, 0xA953}, {0xA95F, 0xA97C}, {0xA980, 0xA9CD}, {0xA9CF, 0xA9D9}, 
	{0xA9DE, 0xA9FE}, {0xAA00, 0xAA36}, {0xAA40, 0xAA4D}, {0xAA50, 0xAA59}, {0xAA5C, 0xAAC2}, {0xAADB, 0xAAF6}, 
	{0xAB01, 0xAB06}, {0xAB09, 0xAB0E}, {0xAB11, 0xAB16}, {0xAB20, 0xAB26}, {0xAB28, 0xAB2E}, {0xAB30, 0xAB6B}, 
	{0xAB70, 0xABED}, {0xABF0, 0xABF9}, {0xAC00, 0xD7A3}, {0xD7B0, 0xD7C6}, {0xD7CB, 0xD7FB}, {0xF900, 0xFA6D}, 
	{0xFA70, 0xFAD9}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFB1D, 0xFB36}, {0xFB38, 0xFB3C}, {0xFB3E, 0xFB3E}, 
	{0xFB40, 0xFB41}, {0xFB43, 0xFB44}, {0xFB46, 0xFBC2}, {0xFBD3, 0xFD8F}, {0xFD92, 0xFDC7}, {0xFDCF, 0xFDCF}, 
	{0xFDF0, 0xFE19}, {0xFE20, 0xFE52}, {0xFE54, 0xFE66}, {0xFE68, 0xFE6B}, {0xFE70, 0xFE74}, {0xFE76, 0xFEFC}, 
	{0xFF01, 0xFFBE}, {0xFFC2, 0xFFC7}, {0xFFCA, 0xFFCF}, {0xFFD2, 0xFFD7}, {0xFFDA, 0xFFDC}, {0xFFE0, 0xFFE6}, 
	{0xFFE8, 0xFFEE}, {0xFFFC, 0xFFFD}, {0x10000, 0x1000B}, {0x1000D, 0x10026}, {0x10028, 0x1003A}, {0x1003C, 0x1003D}, 
	{0x1003F, 0x1004D}, {0x10050, 0x1005D}, {0x10080, 0x100FA}, {0x10100, 0x10102}, {0x10107, 0x10133}, {0x10137, 0x1018E}, 
	{0x10190, 0x1019C}, {0x101A0, 0x101A0}, {0x101D0, 0x101FD}, {0x10280, 0x1029C}, {0x102A0, 0x102D0}, {0x102E0, 0x102FB}, 
	{0x10300, 0x10323}, {0x1032D, 0x1034A}, {0x10350, 0x1037A}, {0x10380, 0x1039D}, {0x1039F, 0x103C3}, {0x103C8, 0x103D5}, 
	{0x10400, 0x1049D}, {0x104A0, 0x104A9}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB}, {0x10500, 0x10527}, {0x10530, 0x10563}, 
	{0x1056F, 0x1057A}, {0x1057C, 0x1058A}, {0x1058C, 0x10592}, {0x10594, 0x10595}, {0x10597, 0x105A1}, {0x105A3, 0x105B1}, 
	{0x105B3, 0x105B9}, {0x105BB, 0x105BC}, {0x10600, 0x10736}, {0x10740, 0x10755}, {0x10760, 0x10767}, {0x10780, 0x10785}, 
	{0x10787, 0x107B0}, {0x107B2, 0x107BA}, {0x10800, 0x10805}, {0x10808, 0x10808}, {0x1080A, 0x10835}, {0x10837, 0x10838}, 
	{0x1083C, 0x1083C}, {0x1083F, 0x10855}, {0x10857, 0x1089E}, {0x108A7, 0x108AF}, {0x108E0, 0x108F2}, {0x108F4, 0x108F5}, 
	{0x108FB, 0x1091B}, {0x1091F, 0x10939}, {0x1093F, 0x1093F}, {0x10980, 0x109B7}, {0x109BC, 0x109CF}, {0x109D2, 0x10A03}, 
	{0x10A05, 0x10A06}, {0x10A0C, 0x10A13}, {0x10A15, 0x10A17}, {0x10A19, 0x10A35}, {0x10A38, 0x10A3A}, {0x10A3F, 0x10A48}, 
	{0x10A50, 0x10A58}, {0x10A60, 0x10A9F}, {0x10AC0, 0x10AE6}, {0x10AEB, 0x10AF6}, {0x10B00, 0x10B35}, {0x10B39, 0x10B55}, 
	{0x10B58, 0x10B72}, {0x10B78, 0x10B91}, {0x10B99, 0x10B9C}, {0x10BA9, 0x10BAF}, {0x10C00, 0x10C48}, {0x10C80, 0x10CB2}, 
	{0x10CC0, 0x10CF2}, {0x10CFA, 0x10D27}, {0x10D30, 0x10D39}, {0x10E60, 0x10E7E}, {0x10E80, 0x10EA9}, {0x10EAB, 0x10EAD}, 
	{0x10EB0, 0x10EB1}, {0x10EFD, 0x10F27}, {0x10F30, 0x10F59}, {0x10F70, 0x10F89}, {0x10FB0, 0x10FCB}, {0x10FE0, 0x10FF6}, 
	{0x11000, 0x1104D}, {0x11052, 0x11075}, {0x1107F, 0x110BC}, {0x110BE, 0x110C2}, {0x110D0, 0x110E8}, {0x110F0, 0x110F9}, 
	{0x11100, 0x11134}, {0x11136, 0x11147}, {0x11150, 0x11176}, {0x11180, 0x111DF}, {0x111E1, 0x111F4}, {0x11200, 0x11211}, 
	{0x11213, 0x11241}, {0x11280, 0x11286}, {0x11288, 0x11288}, {0x1128A, 0x1128D}, {0x1128F, 0x1129D}, {0x1129F, 0x112A9}, 
	{0x112B0, 0x112EA}, {0x112F0, 0x112F9}, {0x11300, 0x11303}, {0x11305, 0x1130C}, {0x1130F, 0x11310}, {0x11313, 0x11328}, 
	{0x1132A, 0x11330}, {0x11332, 0x11333}, {0x11335, 0x11339}, {0x1133B, 0x11344}, {0x11347, 0x11348}, {0x1134B, 0x1134D}, 
	{0x11350, 0x11350}, {0x11357, 0x11357}, {0x1135D, 0x11363}, {0x11366, 0x1136C}, {0x11370, 0x11374}, {0x11400, 0x1145B}, 
	{0x1145D, 0x11461}, {0x11480, 0x114C7}, {0x114D0, 0x114D9}, {0x11580, 0x115B5}, {0x115B8, 0x115DD}, {0x11600, 0x11644}, 
	{0x11650, 0x11659}, {0x11660, 0x1166C}, {0x11680, 0x116B9}, {0x116C0, 0x116C9}, {0x11700, 0x1171A}, {0x1171D, 0x1172B}, 
	{0x11730, 0x11746}, {0x11800, 0x1183B}, {0x118A0, 0x118F2}, {0x118FF, 0x11906}, {0x11909, 0x11909}, {0x1190C, 0x11913}, 
	{0x11915, 0x11916}, {0x11918, 0x11935}, {0x11937, 0x11938}, {0x1193B, 0x11946}, {0x11950, 0x11959}, {0x119A0, 0x119A7}, 
	{0x119AA, 0x119D7}, {0x119DA, 0x119E4}, {0x11A00, 0x11A47}, {0x11A50, 0x11AA2}, {0x11AB0, 0x11AF8}, {0x11B00, 0x11B09}, 
	{0x11C00, 0x11C08}, {0x11C0A, 0x11C36}, {0x11C38, 0x11C45}, {0x11C50, 0x11C6C}, {0x11C70, 0x11C8F}, {0x11C92, 0x11CA7}, 
	{0x11CA9, 0x11CB6}, {0x11D00, 0x11D06}, {0x11D08, 0x11D09}, {0x11D0B, 0x11D36}, {0x11D3A, 0x11D3A}, {0x11D3C, 0x11D3D}, 
	{0x11D3F, 0x11D47}, {0x11D50, 0x11D59}, {0x11D60, 0x11D65}, {0x11D67, 0x11D68}, {0x11D6A, 0x11D8E}, {0x11D90, 0x11D91}, 
	{0x11D93, 0x11D98}, {0x11DA0, 0x11DA9}, {0x11EE0, 0x11EF8}, {0x11F00, 0x11F10}, {0x11F12, 0x11F3A}, {0x11F3E, 0x11F59}, 
	{0x11FB0, 0x11FB0}, {0x11FC0, 0x11FF1}, {0x11FFF, 0x12399}, {0x12400, 0x1246E}, {0x12470, 0x12474}, {0x12480, 0x12543}, 
	{0x12F90, 0x12FF2}, {0x13000, 0x1342F}, {0x13440, 0x13455}, {0x14400, 0x14646}, {0x16800, 0x16A38}, {0x16A40, 0x16A5E}, 
	{0x16A60, 0x16A69}, {0x16A6E, 0x16ABE}, {0x16AC0, 0x16AC9}, {0x16AD0, 0x16AED}, {0x16AF0, 0x16AF5}, {0x16B00, 0x16B45}, 
	{0x16B50, 0x16B59}, {0x16B5B, 0x16B61}, {0x16B63, 0x16B77}, {0x16B7D, 0x16B8F}, {0x16E40, 0x16E9A}, {0x16F00, 0x16F4A}, 
	{0x16F4F, 0x16F87}, {0x16F8F, 0x16F9F}, {0x16FE0, 0x16FE4}, {0x16FF0, 0x16FF1}, {0x17000, 0x187F7}, {0x18800, 0x18CD5}, 
	{0x18D00, 0x18D08}, {0x1AFF0, 0x1AFF3}, {0x1AFF5, 0x1AFFB}, {0x1AFFD, 0x1AFFE}, {0x1B000, 0x1B122}, {0x1B132, 0x1B132}, 
	{0x1B150, 0x1B152}, {0x1B155, 0x1B155}, {0x1B164, 0x1B167}, {0x1B170, 0x1B2FB}, {0x1BC00, 0x1BC6A}, {0x1BC70, 0x1BC7C}, 
	{0x1BC80, 0x1BC88}, {0x1BC90, 0x1BC99}, {0x1BC9C, 0x1BC9F}, {0x1CF00, 0x1CF2D}, {0x1CF30, 0x1CF46}, {0x1CF50, 0x1CFC3}, 
	{0x1D000, 0x1D0F5}, {0x1D100, 0x1D126}, {0x1D129, 0x1D172}, {0x1D17B, 0x1D1EA}, {0x1D200, 0x1D245}, {0x1D2C0, 0x1D2D3}, 
	{0x1D2E0, 0x1D2F3}, {0x1D300, 0x1D356}, {0x1D360, 0x1D378}, {0x1D400, 0x1D454}, {0x1D456, 0x1D49C}, {0x1D49E, 0x1D49F}, 
	{0x1D4A2, 0x1D4A2}, {0x1D4A5, 0x1D4A6}, {0x1D4A9, 0x1D4AC}, {0x1D4AE, 0x1D4B9}, {0x1D4BB, 0x1D4BB}, {0x1D4BD, 0x1D4C3}, 
	{0x1D4C5, 0x1D505}, {0x1D507, 0x1D50A}, {0x1D50D, 0x1D514}, {0x1D516, 0x1D51C}, {0x1D51E, 0x1D539}, {0x1D53B, 0x1D53E}, 
	{0x1D540, 0x1D544}, {0x1D546, 0x1D546}, {0x1D54A, 0x1D550}, {0x1D552, 0x1D6A5}, {0x1D6A8, 0x1D7CB}, {0x1D7CE, 0x1DA8B}, 
	{0x1DA9B, 0x1DA9F}, {0x1DAA1, 0x1DAAF}, {0x1DF00, 0x1DF1E}, {0x1DF25, 0x1DF2A}, {0x1E000, 0x1E006}, {0x1E008, 0x1E018}, 
	{0x1E01B, 0x1E021}, {0x1E023, 0x1E024}, {0x1E026, 0x1E02A}, {0x1E030, 0x1E06D}, {0x1E08F, 0x1E08F}, {0x1E100, 0x1E12C}, 
	{0x1E130, 0x1E13D}, {0x1E140, 0x1E149}, {0x1E14E, 0x1E14F}, {0x1E290, 0x1E2AE}, {0x1E2C0, 0x1E2F9}, {0x1E2FF, 0x1E2FF}, 
	{0x1E4D0, 0x1E4F9}, {0x1E7E0, 0x1E7E6}, {0x1E7E8, 0x1E7EB}, {0x1E7ED, 0x1E7EE}, {0x1E7F0, 0x1E7FE}, {0x1E800, 0x1E8C4}, 
	{0x1E8C7, 0x1E8D6}, {0x1E900, 0x1E94B}, {0x1E950, 0x1E959}, {0x1E95E, 0x1E95F}, {0x1EC71, 0x1ECB4}, {0x1ED01, 0x1ED3D}, 
	{0x1EE00, 0x1EE03}, {0x1EE05, 0x1EE1F}, {0x1EE21, 0x1EE22}, {0x1EE24, 0x1EE24}, {0x1EE27, 0x1EE27}, {0x1EE29, 0x1EE32}, 
	{0x1EE34, 0x1EE37}, {0x1EE39, 0x1EE39}, {0x1EE3B, 0x1EE3B}, {0x1EE42, 0x1EE42}, {0x1EE47, 0x1EE47}, {0x1EE49, 0x1EE49}, 
	{0x1EE4B, 0x1EE4B}, {0x1EE4D, 0x1EE4F}, {0x1EE51, 0x1EE52}, {0x1EE54, 0x1EE54}, {0x1EE57, 0x1EE57}, {0x1EE59, 0x1EE59}, 
	{0x1EE5B, 0x1EE5B}, {0x1EE5D, 0x1EE5D}, {0x1EE5F, 0x1EE5F}, {0x1EE61, 0x1EE62}, {0x1EE64, 0x1EE64}, {0x1EE67, 0x1EE6A}, 
	{0x1EE6C, 0x1EE72}, {0x1EE74, 0x1EE77}, {0x1EE79, 0x1EE7C}, {0x1EE7E, 0x1EE7E}, {0x1EE80, 0x1EE89}, {0x1EE8B, 0x1EE9B}, 
	{0x1EEA1, 0x1EEA3}, {0x1EEA5, 0x1EEA9}, {0x1EEAB, 0x1EEBB}, {0x1EEF0, 0x1EEF1}, {0x1F000, 0x1F02B}, {0x1F030, 0x1F093}, 
	{0x1F0A0, 0x1F0AE}, {0x1F0B1, 0x1F0BF}, {0x1F0C1, 0x1F0CF}, {0x1F0D1, 0x1F0F5}, {0x1F100, 0x1F1AD}, {0x1F1E6, 0x1F202}, 
	{0x1F210, 0x1F23B}, {0x1F240, 0x1F248}, {0x1F250, 0x1F251}, {0x1F260, 0x1F265}, {0x1F300, 0x1F6D7}, {0x1F6DC, 0x1F6EC}, 
	{0x1F6F0, 0x1F6FC}, {0x1F700, 0x1F776}, {0x1F77B, 0x1F7D9}, {0x1F7E0, 0x1F7EB}, {0x1F7F0, 0x1F7F0}, {0x1F800, 0x1F80B}, 
	{0x1F810, 0x1F847}, {0x1F850, 0x1F859}, {0x1F860, 0x1F887}, {0x1F890, 0x1F8AD}, {0x1F8B0, 0x1F8B1}, {0x1F900, 0x1FA53}, 
	{0x1FA60, 0x1FA6D}, {0x1FA70, 0x1FA7C}, {0x1FA80, 0x1FA88}, {0x1FA90, 0x1FABD}, {0x1FABF, 0x1FAC5}, {0x1FACE, 0x1FADB}, 
	{0x1FAE0, 0x1FAE8}, {0x1FAF0, 0x1FAF8}, {0x1FB00, 0x1FB92}, {0x1FB94, 0x1FBCA}, {0x1FBF0, 0x1FBF9}, {0x20000, 0x2A6DF}, 
	{0x2A700, 0x2B739}, {0x2B740, 0x2B81D}, {0x2B820, 0x2CEA1}, {0x2CEB0, 0x2EBE0}, {0x2F800, 0x2FA1D}, {0x30000, 0x3134A}, 
	{0x31350, 0x323AF}, {0xE0100, 0xE01EF}, 
};


/* ---- small helpers ---- */

static void sb_add(str *s, const char *p, size_t n) {
	char *q = realloc(s->p, s->n + n + 1);
	if (q == NULL) abort();
	s->p = q;
	if (n) memcpy(s->p + s->n, p, n);
	s->n += n;
	s->p[s->n] = '\0';
}
static void sb_adds(str *s, const char *z) { sb_add(s, z, strlen(z)); }
static void sb_addc(str *s, char c) { sb_add(s, &c, 1); }

static int has_prefix(const char *s, size_t n, const char *p, size_t pn) { return n >= pn && memcmp(s, p, pn) == 0; }

static int contains_any(const char *s, size_t n, const char *set, size_t setn) {
	for (size_t i = 0; i < n; i++)
		if (memchr(set, s[i], setn) != NULL) return 1;
	return 0;
}
#define CONTAINS_ANY(s, n, lit) contains_any(s, n, lit, sizeof(lit) - 1)

static int str_cmp(const str *a, const str *b) {
	size_t n = a->n < b->n ? a->n : b->n;
	int c = n ? memcmp(a->p, b->p, n) : 0;
	if (c != 0) return c;
	return a->n < b->n ? -1 : a->n > b->n;
}


/* go_lower is strings.ToLower (each byte that is not UTF-8 becomes U+FFFD
 * when the string is not ASCII). */
static str go_lower(const char *s, size_t n) {
	size_t i;
	str o = str_dup(s, n);
	for (i = 0; i < n && (unsigned char)s[i] < 0x80; i++) {
	}
	if (i == n) {
		for (i = 0; i < n; i++)
			if (o.p[i] >= 'A' && o.p[i] <= 'Z') o.p[i] += 'a' - 'A';
		return o;
	}
	free(o.p);
	o.p = malloc(3 * n + 1);
	if (o.p == NULL) abort();
	o.n = 0;
	const unsigned char *u = (const unsigned char *)s;
	for (i = 0; i < n;) {
		uint32_t r;
		int w = utf8_decode(u + i, n - i, &r);
		o.n += (size_t)utf8_encode(o.p + o.n, golower_rune(r));
		i += (size_t)w;
	}
	o.p[o.n] = '\0';
	return o;
}

static int is_letter_digit(uint32_t r) {
	if (r < 0x80) return (r >= '0' && r <= '9') || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z');
	int lo = 0, hi = (int)(sizeof letdig / sizeof letdig[0]) - 1;
	while (lo <= hi) {
		int m = (lo + hi) / 2;
		if (r < letdig[m][0]) hi = m - 1;
		else if (r > letdig[m][1]) lo = m + 1;
		else return 1;
	}
	return 0;
}

static int is_print(uint32_t r) {
	int lo = 0, hi = (int)(sizeof isprint_tab / sizeof isprint_tab[0]) - 1;
	while (lo <= hi) {
		int m = (lo + hi) / 2;
		if (r < isprint_tab[m][0]) hi = m - 1;
		else if (r > isprint_tab[m][1]) lo = m + 1;
		else return 1;
	}
	return 0;
}

/* quote appends strconv.Quote(s). */
static void quote(str *o, const char *s, size_t n) {
	static const char hex[] = "0123456789abcdef";
	sb_addc(o, '"');
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		uint32_t r;
		int w = utf8_decode(u + i, n - i, &r);
		char b[16];
		if (r == 0xFFFD && w == 1) {
			snprintf(b, sizeof b, "\\x%c%c", hex[u[i] >> 4], hex[u[i] & 15]);
			sb_adds(o, b);
		} else if (r == '"' || r == '\\') {
			sb_addc(o, '\\');
			sb_addc(o, (char)r);
		} else if (r >= 0x20 && r < 0x7f) {
			sb_addc(o, (char)r);
		} else if (r < 0x80) {
			switch (r) {
			case '\a': sb_adds(o, "\\a"); break;
			case '\b': sb_adds(o, "\\b"); break;
			case '\f': sb_adds(o, "\\f"); break;
			case '\n': sb_adds(o, "\\n"); break;
			case '\r': sb_adds(o, "\\r"); break;
			case '\t': sb_adds(o, "\\t"); break;
			case '\v': sb_adds(o, "\\v"); break;
			default:
				snprintf(b, sizeof b, "\\x%c%c", hex[r >> 4], hex[r & 15]);
				sb_adds(o, b);
			}
		} else if (!is_print(r)) {
			if (r < 0x10000) snprintf(b, sizeof b, "\\u%04x", (unsigned)r);
			else snprintf(b, sizeof b, "\\U%08x", (unsigned)r);
			sb_adds(o, b);
		} else {
			sb_add(o, s + i, (size_t)w);
		}
		i += (size_t)w;
	}
	sb_addc(o, '"');
}

/* fmt_addr appends netip.Addr.WithZone("").String() (netip.h). */
static void fmt_addr(str *o, const ipaddr *a) {
	char t[NETIP_FORMAT_MAX];
	sb_add(o, t, netip_format(a, t));
}

/* ---- the configuration (config.go, response.go) ---- */

typedef struct {
	str name, value;
} param;

typedef struct {
	str from, to;
} fromto;

typedef struct {
	char *hits; /* rule_<i>_hits */
	str host_exact, host_suffix;
	gore *path;           /* NULL: any */
	str *methods;         /* with methods_set: nil vs empty */
	int nmethods, methods_set;
	str *new_path, *new_query, *new_host; /* templates, NULL: unset */
	param *qparams, *set_headers;
	int nqparams, nset_headers;
	str *remove_headers;
	int nremove;
	int redirect_code;
	str redirect_to;
	int last;
} rule;

typedef struct {
	char *hits; /* response_<i>_hits */
	str host_exact, host_suffix;
	gore *path;
	int64_t *status;
	int nstatus, status_set;
	fromto *location, *cookie_domain, *cookie_path;
	int nlocation, ncookie_domain, ncookie_path;
	param *set_headers;
	int nset_headers;
	str *hide_headers;
	int nhide;
	int last;
} resp_rule;

static rule *rules;
static int nrules;
static resp_rule *resp_rules;
static int nresp;
static gore *empty_re; /* stands in for a rule without a path */
static int err_logged;

static char errbuf[1024];

/* ---- decoding with encoding/json's rules (../../internal/jr/jr.h) ---- */

/* the first decoding error wins (encoding/json's saveError); syntax was
   checked before */
static int type_err(jr *r, const char *field, int c, const char *num, size_t numn) {
	char b[200];
	if (field[0] == '\0') {
		snprintf(b, sizeof b, "the configuration must be a JSON object, got JSON %s", jtype(c));
	} else if (num != NULL) {
		snprintf(b, sizeof b, "%s: JSON number %.*s is not the expected type", field, (int)(numn > 100 ? 100 : numn), num);
	} else {
		snprintf(b, sizeof b, "%s: JSON %s is not the expected type", field, jtype(c));
	}
	return jfail(r, b);
}

static int unknown_key(jr *r, const str *k) {
	str q = {NULL, 0};
	quote(&q, k->p, k->n > 200 ? 200 : k->n);
	char b[300];
	snprintf(b, sizeof b, "json: unknown field %s", q.p);
	str_free(&q);
	return jfail(r, b);
}

/* a growable array of T as Go fills a slice: len restarts at 0 and the
   backing array (written elements) is kept */
typedef struct {
	void *items;
	int len, written, cap;
	int set; /* non-nil */
} slice;

static void *slice_at(slice *s, int i, size_t size) {
	if (i >= s->written) {
		if (s->written >= s->cap) {
			s->cap = s->cap ? 2 * s->cap : 4;
			s->items = realloc(s->items, (size_t)s->cap * size);
			if (s->items == NULL) abort();
		}
		memset((char *)s->items + (size_t)s->written * size, 0, size);
		s->written++;
	}
	return (char *)s->items + (size_t)i * size;
}

typedef struct {
	param *items;
	int len, cap;
	int set;
} pmap;

static void pmap_put(pmap *m, str k, str v) {
	for (int i = 0; i < m->len; i++)
		if (str_eq(m->items[i].name.p, m->items[i].name.n, k.p, k.n)) {
			str_free(&m->items[i].value);
			m->items[i].value = v;
			str_free(&k);
			return;
		}
	if (m->len == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 4;
		m->items = realloc(m->items, (size_t)m->cap * sizeof *m->items);
		if (m->items == NULL) abort();
	}
	m->items[m->len].name = k;
	m->items[m->len].value = v;
	m->len++;
}

static void pmap_free(pmap *m) {
	for (int i = 0; i < m->len; i++) {
		str_free(&m->items[i].name);
		str_free(&m->items[i].value);
	}
	free(m->items);
	memset(m, 0, sizeof *m);
}

static int param_cmp(const void *a, const void *b) { return str_cmp(&((const param *)a)->name, &((const param *)b)->name); }

/* object iteration: calls each(key) with r at the value */
typedef int (*member_fn)(jr *r, const str *key, void *ctx);

static int jobject(jr *r, const char *field, member_fn each, void *ctx) {
	int c = jpeek(r);
	if (c != '{') return type_err(r, field, c, NULL, 0);
	r->p++;
	if (jpeek(r) == '}') {
		r->p++;
		return 0;
	}
	for (;;) {
		str k;
		jpeek(r);
		if (jstring(r, &k) < 0) return -1;
		jpeek(r);
		r->p++; /* : */
		int rc = each(r, &k, ctx);
		str_free(&k);
		if (rc < 0) return -1;
		c = jpeek(r);
		r->p++;
		if (c == '}') return 0;
	}
}

static int jstr(jr *r, const char *field, str *dst, int *set) {
	int c = jpeek(r);
	if (c == 'n') {
		if (set) *set = 0; /* a pointer: nil */
		return jliteral(r, "null");
	}
	if (c != '"') {
		if (c == '{' || c == '[') {
			type_err(r, field, c, NULL, 0);
			return -1;
		}
		if (c != 't' && c != 'f') {
			const char *s;
			size_t n;
			jnumber(r, &s, &n);
		}
		return type_err(r, field, c, NULL, 0);
	}
	str s;
	if (jstring(r, &s) < 0) return -1;
	str_free(dst);
	*dst = s;
	if (set) *set = 1;
	return 0;
}

/* jint is a number into a Go int (int64) */
static int jint(jr *r, const char *field, int64_t *dst) {
	int c = jpeek(r);
	if (c == 'n') return jliteral(r, "null");
	if (c == '{' || c == '[' || c == '"' || c == 't' || c == 'f') return type_err(r, field, c, NULL, 0);
	const char *s;
	size_t n;
	if (jnumber(r, &s, &n) < 0) return -1;
	int neg = s[0] == '-';
	uint64_t v = 0;
	for (size_t i = (size_t)neg; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') return type_err(r, field, c, s, n);
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (9223372036854775808ULL - d) / 10) return type_err(r, field, c, s, n);
		v = v * 10 + d;
	}
	if (!neg && v > 9223372036854775807ULL) return type_err(r, field, c, s, n);
	*dst = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static int jbool(jr *r, const char *field, int *set, int *val) {
	int c = jpeek(r);
	if (c == 'n') {
		*set = 0;
		return jliteral(r, "null");
	}
	if (c == 't' || c == 'f') {
		jliteral(r, c == 't' ? "true" : "false");
		*set = 1;
		*val = c == 't';
		return 0;
	}
	return type_err(r, field, c, NULL, 0);
}

/* map[string]string */
typedef struct {
	pmap *m;
	const char *field;
} map_ctx;

static int map_member(jr *r, const str *k, void *vctx) {
	map_ctx *x = vctx;
	str v = {NULL, 0};
	if (jstr(r, x->field, &v, NULL) < 0) {
		str_free(&v);
		return -1;
	}
	if (v.p == NULL) v = str_dup("", 0);
	pmap_put(x->m, str_dup(k->p, k->n), v);
	return 0;
}

static int jmap(jr *r, const char *field, pmap *m) {
	if (jpeek(r) == 'n') {
		pmap_free(m);
		return jliteral(r, "null");
	}
	if (jpeek(r) != '{') return type_err(r, field, jpeek(r), NULL, 0);
	m->set = 1;
	map_ctx x = {m, field};
	return jobject(r, field, map_member, &x);
}

/* generic array into a slice; item(r, elem) decodes one element (null
   leaves it as it is) */
typedef int (*item_fn)(jr *r, void *elem, const char *field);

static int jslice(jr *r, const char *field, slice *s, size_t size, item_fn item, void (*free_elems)(slice *)) {
	int c = jpeek(r);
	if (c == 'n') {
		if (free_elems) free_elems(s);
		free(s->items);
		memset(s, 0, sizeof *s);
		return jliteral(r, "null");
	}
	if (c != '[') {
		if (c != '{' && c != '"' && c != 't' && c != 'f') {
			const char *x;
			size_t n;
			jnumber(r, &x, &n);
		}
		return type_err(r, field, c, NULL, 0);
	}
	r->p++;
	s->set = 1;
	s->len = 0;
	if (jpeek(r) == ']') {
		r->p++;
		return 0;
	}
	for (;;) {
		int i = s->len;
		void *e = slice_at(s, i, size);
		if (jpeek(r) == 'n') {
			jliteral(r, "null");
		} else if (item(r, e, field) < 0) {
			return -1;
		}
		s->len = i + 1;
		c = jpeek(r);
		r->p++;
		if (c == ']') return 0;
	}
}

static int item_str(jr *r, void *e, const char *field) { return jstr(r, field, e, NULL); }
static int item_int(jr *r, void *e, const char *field) { return jint(r, field, e); }

static void free_strs(slice *s) {
	for (int i = 0; i < s->written; i++) str_free(&((str *)s->items)[i]);
}
static void free_fts(slice *s) {
	for (int i = 0; i < s->written; i++) {
		str_free(&((fromto *)s->items)[i].from);
		str_free(&((fromto *)s->items)[i].to);
	}
}

/* rawFromTo */
static const char *ft_field; /* the list being read, for type errors */
static int ft_member_named(jr *r, const str *k, void *vctx) {
	fromto *ft = vctx;
	char field[40];
	if (key_is(k, "from")) {
		snprintf(field, sizeof field, "%s.from", ft_field);
		return jstr(r, field, &ft->from, NULL);
	}
	if (key_is(k, "to")) {
		snprintf(field, sizeof field, "%s.to", ft_field);
		return jstr(r, field, &ft->to, NULL);
	}
	return unknown_key(r, k);
}

static int item_ft(jr *r, void *e, const char *field) {
	if (jpeek(r) != '{') {
		int c = jpeek(r);
		if (c != '[' && c != '"' && c != 't' && c != 'f') {
			const char *x;
			size_t n;
			jnumber(r, &x, &n);
		}
		return type_err(r, field, c, NULL, 0);
	}
	ft_field = field;
	return jobject(r, field, ft_member_named, e);
}

/* rawRule */
typedef struct {
	str host, path;
	str method_text, method_raw; /* json.RawMessage; raw.p NULL: not given */
	int rewrite_set;
	str rw_path, rw_query, rw_host;
	int rw_path_set, rw_query_set, rw_host_set;
	pmap rw_qparams;
	pmap set_headers;
	slice remove_headers; /* str */
	int redirect_set;
	int64_t rd_code;
	str rd_to;
	int last_set, last;
} raw_rule;

static void raw_rule_free(raw_rule *rr) {
	str_free(&rr->host);
	str_free(&rr->path);
	str_free(&rr->method_text);
	str_free(&rr->method_raw);
	str_free(&rr->rw_path);
	str_free(&rr->rw_query);
	str_free(&rr->rw_host);
	pmap_free(&rr->rw_qparams);
	pmap_free(&rr->set_headers);
	free_strs(&rr->remove_headers);
	free(rr->remove_headers.items);
	str_free(&rr->rd_to);
}

static int rewrite_member(jr *r, const str *k, void *vctx) {
	raw_rule *rr = vctx;
	if (key_is(k, "path")) return jstr(r, "rewrite.path", &rr->rw_path, &rr->rw_path_set);
	if (key_is(k, "query")) return jstr(r, "rewrite.query", &rr->rw_query, &rr->rw_query_set);
	if (key_is(k, "query_params")) return jmap(r, "rewrite.query_params", &rr->rw_qparams);
	if (key_is(k, "host")) return jstr(r, "rewrite.host", &rr->rw_host, &rr->rw_host_set);
	return unknown_key(r, k);
}

static int redirect_member(jr *r, const str *k, void *vctx) {
	raw_rule *rr = vctx;
	if (key_is(k, "code")) return jint(r, "redirect.code", &rr->rd_code);
	if (key_is(k, "to")) return jstr(r, "redirect.to", &rr->rd_to, NULL);
	return unknown_key(r, k);
}

/* a pointer to a struct: null makes it nil; an object decodes into it
   (into the one already there, as encoding/json does) */
static int jptr_struct(jr *r, const char *field, int *set, member_fn each, void *ctx, void (*reset)(void *)) {
	int c = jpeek(r);
	if (c == 'n') {
		*set = 0;
		if (reset) reset(ctx);
		return jliteral(r, "null");
	}
	if (c != '{') {
		if (c != '[' && c != '"' && c != 't' && c != 'f') {
			const char *x;
			size_t n;
			jnumber(r, &x, &n);
		}
		return type_err(r, field, c, NULL, 0);
	}
	*set = 1;
	return jobject(r, field, each, ctx);
}

static void reset_rewrite(void *v) {
	raw_rule *rr = v;
	str_free(&rr->rw_path);
	str_free(&rr->rw_query);
	str_free(&rr->rw_host);
	rr->rw_path_set = rr->rw_query_set = rr->rw_host_set = 0;
	pmap_free(&rr->rw_qparams);
}

static void reset_redirect(void *v) {
	raw_rule *rr = v;
	rr->rd_code = 0;
	str_free(&rr->rd_to);
}

static int rule_member(jr *r, const str *k, void *vctx) {
	raw_rule *rr = vctx;
	if (key_is(k, "host")) return jstr(r, "host", &rr->host, NULL);
	if (key_is(k, "path")) return jstr(r, "path", &rr->path, NULL);
	if (key_is(k, "method")) return jraw(r, &rr->method_text, &rr->method_raw);
	if (key_is(k, "rewrite")) {
		/* a nil pointer decodes into a fresh struct */
		if (!rr->rewrite_set) reset_rewrite(rr);
		return jptr_struct(r, "rewrite", &rr->rewrite_set, rewrite_member, rr, reset_rewrite);
	}
	if (key_is(k, "set_headers")) return jmap(r, "set_headers", &rr->set_headers);
	if (key_is(k, "remove_headers"))
		return jslice(r, "remove_headers", &rr->remove_headers, sizeof(str), item_str, free_strs);
	if (key_is(k, "redirect")) {
		if (!rr->redirect_set) reset_redirect(rr);
		return jptr_struct(r, "redirect", &rr->redirect_set, redirect_member, rr, reset_redirect);
	}
	if (key_is(k, "last")) return jbool(r, "last", &rr->last_set, &rr->last);
	return unknown_key(r, k);
}

/* rawResponseRule */
typedef struct {
	str host, path;
	slice status; /* int64_t */
	slice location, cookie_domain, cookie_path; /* fromto */
	pmap set_headers;
	slice hide_headers; /* str */
	int last_set, last;
} raw_resp;

static void raw_resp_free(raw_resp *rr) {
	str_free(&rr->host);
	str_free(&rr->path);
	free(rr->status.items);
	free_fts(&rr->location);
	free(rr->location.items);
	free_fts(&rr->cookie_domain);
	free(rr->cookie_domain.items);
	free_fts(&rr->cookie_path);
	free(rr->cookie_path.items);
	pmap_free(&rr->set_headers);
	free_strs(&rr->hide_headers);
	free(rr->hide_headers.items);
}

static int resp_member(jr *r, const str *k, void *vctx) {
	raw_resp *rr = vctx;
	if (key_is(k, "host")) return jstr(r, "host", &rr->host, NULL);
	if (key_is(k, "path")) return jstr(r, "path", &rr->path, NULL);
	if (key_is(k, "status")) return jslice(r, "status", &rr->status, sizeof(int64_t), item_int, NULL);
	if (key_is(k, "location")) return jslice(r, "location", &rr->location, sizeof(fromto), item_ft, free_fts);
	if (key_is(k, "set_headers")) return jmap(r, "set_headers", &rr->set_headers);
	if (key_is(k, "hide_headers")) return jslice(r, "hide_headers", &rr->hide_headers, sizeof(str), item_str, free_strs);
	if (key_is(k, "cookie_domain"))
		return jslice(r, "cookie_domain", &rr->cookie_domain, sizeof(fromto), item_ft, free_fts);
	if (key_is(k, "cookie_path")) return jslice(r, "cookie_path", &rr->cookie_path, sizeof(fromto), item_ft, free_fts);
	if (key_is(k, "last")) return jbool(r, "last", &rr->last_set, &rr->last);
	return unknown_key(r, k);
}

/* the top level: rules and response are []json.RawMessage */
typedef struct {
	slice rules, response; /* str (raw text) */
} raw_config;

static int item_raw(jr *r, void *e, const char *field) {
	(void)field;
	str *s = e;
	const char *start = r->p;
	if (jskip(r, 2) < 0) return -1;
	str_free(s);
	*s = str_dup(start, (size_t)(r->p - start));
	return 0;
}

/* jslice leaves a null item as it is; a RawMessage takes "null" */
static int jraw_slice(jr *r, const char *field, slice *s) {
	int c = jpeek(r);
	if (c == 'n') {
		free_strs(s);
		free(s->items);
		memset(s, 0, sizeof *s);
		return jliteral(r, "null");
	}
	if (c != '[') {
		if (c != '{' && c != '"' && c != 't' && c != 'f') {
			const char *x;
			size_t n;
			jnumber(r, &x, &n);
		}
		return type_err(r, field, c, NULL, 0);
	}
	r->p++;
	s->set = 1;
	s->len = 0;
	if (jpeek(r) == ']') {
		r->p++;
		return 0;
	}
	for (;;) {
		int i = s->len;
		void *e = slice_at(s, i, sizeof(str));
		if (item_raw(r, e, field) < 0) return -1;
		s->len = i + 1;
		c = jpeek(r);
		r->p++;
		if (c == ']') return 0;
	}
}

static int config_member(jr *r, const str *k, void *vctx) {
	raw_config *rc = vctx;
	if (key_is(k, "rules")) return jraw_slice(r, "rules", &rc->rules);
	if (key_is(k, "response")) return jraw_slice(r, "response", &rc->response);
	return unknown_key(r, k);
}

/* ---- checking (rawRule.check, rawResponseRule.check) ---- */

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof errbuf, fmt, ap);
	va_end(ap);
	return -1;
}

/* q returns a quoted copy (strconv.Quote) in a rotating buffer */
static const char *q(const char *s, size_t n) {
	static str bufs[4];
	static int k;
	str *b = &bufs[k++ % 4];
	str_free(b);
	quote(b, s, n > 300 ? 300 : n);
	return b->p;
}
#define QS(x) q((x).p, (x).n)

static int is_token(const char *s, size_t n) {
	if (n == 0) return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c) != NULL) return 0;
	}
	return 1;
}

static int equal_fold_ascii(const char *a, size_t an, const char *b) {
	size_t bn = strlen(b);
	if (an != bn) return 0;
	for (size_t i = 0; i < an; i++) {
		char x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z') x += 32;
		if (y >= 'A' && y <= 'Z') y += 32;
		if (x != y) return 0;
	}
	return 1;
}

/* hostPattern */
static int host_pattern(const str *s, str *exact, str *suffix, const char *where) {
	size_t n = s->n;
	if (n > 0 && s->p[n - 1] == '.') n--;
	str h = go_lower(s->p, n);
	const char *a = h.p;
	size_t an = h.n;
	if (an > 0 && a[0] == '[') {
		a++;
		an--;
	}
	if (an > 0 && a[an - 1] == ']') an--;
	ipaddr ip;
	if (parse_addr(a, an, &ip) == 0) {
		str o = {NULL, 0};
		fmt_addr(&o, &ip);
		*exact = o;
		str_free(&h);
		return 0;
	}
	if (h.n == 0 || CONTAINS_ANY(h.p, h.n, " /\t\r\n:[]")) {
		str_free(&h);
		return fail("%s.host: %s is not a host name (no port, path or spaces)", where, QS(*s));
	}
	if (h.n > 2 && h.p[0] == '*' && h.p[1] == '.' && memchr(h.p + 2, '*', h.n - 2) == NULL) {
		*suffix = str_dup(h.p + 1, h.n - 1);
		str_free(&h);
		return 0;
	}
	if (memchr(h.p, '*', h.n) == NULL) {
		*exact = h;
		return 0;
	}
	str_free(&h);
	return fail("%s.host: %s: a wildcard is allowed only as a leading \"*.\" (*.example.com)", where, QS(*s));
}

/* refName: the name after '$' as regexp.Expand reads it, ASCII only */
static int ref_name(const char *t, size_t n, size_t *name_off, size_t *name_len, size_t *consumed) {
	size_t i = 0;
	int brace = n > 0 && t[0] == '{';
	if (brace) i = 1;
	size_t start = i;
	while (i < n && (t[i] == '_' || (t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z')))
		i++;
	if (i == start) return 0;
	*name_off = start;
	*name_len = i - start;
	if (brace) {
		if (i >= n || t[i] != '}') return 0;
		i++;
	}
	*consumed = i;
	return 1;
}

/* checkTemplate */
static int check_template(const str *tp, const gore *re, const char *where) {
	const char *t = tp->p;
	size_t n = tp->n;
	for (;;) {
		const char *d = memchr(t, '$', n);
		if (d == NULL) return 0;
		n -= (size_t)(d + 1 - t);
		t = d + 1;
		if (n > 0 && t[0] == '$') {
			t++;
			n--;
			continue;
		}
		size_t no, nl, used;
		if (!ref_name(t, n, &no, &nl, &used)) continue;
		const char *name = t + no;
		t += used;
		n -= used;
		/* strconv.Atoi: digits only, within int64 */
		int digits = 1;
		uint64_t v = 0;
		for (size_t i = 0; i < nl; i++) {
			if (name[i] < '0' || name[i] > '9') {
				digits = 0;
				break;
			}
			uint64_t dd = (uint64_t)(name[i] - '0');
			if (v > (9223372036854775807ULL - dd) / 10) {
				digits = 0;
				break;
			}
			v = v * 10 + dd;
		}
		if (digits) {
			if (v > (uint64_t)re->ngroups)
				return fail("%s: $%.*s: the path pattern has %d capture groups; write ${%.*s} and check the pattern (or ${1}x for group 1 then \"x\")",
				            where, (int)nl, name, re->ngroups, (int)nl, name);
			continue;
		}
		if (gore_index(re, name, nl) < 0)
			return fail("%s: ${%.*s}: the path pattern has no group named %s (a name like $1x means ${1x}; write ${1}x)", where,
			            (int)nl, name, q(name, nl));
	}
}

/* compile a path pattern; errors name the key */
static int compile_path(const str *p, gore **out, const char *where) {
	char e[600];
	int conly;
	*out = gore_compile(p->p, p->n, e, sizeof e, &conly);
	if (*out != NULL) return 0;
	if (conly) return fail("%s.path: %s need the Go build of url-rewrite (plugins/url-rewrite)", where, e);
	return fail("%s.path: %s", where, e);
}

/* method: a string or a list of strings (json.Unmarshal of the raw value) */
static int parse_methods(raw_rule *rr, rule *r, const char *where) {
	const str *raw = &rr->method_raw;
	if (raw->p == NULL || raw->n == 0 || (raw->n == 4 && memcmp(raw->p, "null", 4) == 0)) return 0;
	jr j;
	j.p = raw->p;
	j.end = raw->p + raw->n;
	j.err[0] = '\0';
	int c = jpeek(&j);
	if (c == '"') {
		r->methods = calloc(1, sizeof(str));
		if (r->methods == NULL) abort();
		r->methods[0] = str_dup(rr->method_text.p, rr->method_text.n);
		r->nmethods = 1;
	} else if (c == '[') {
		j.p++;
		r->methods_set = 1;
		int cap = 0;
		if (jpeek(&j) == ']') goto check;
		for (;;) {
			str s = {NULL, 0};
			c = jpeek(&j);
			if (c == 'n') {
				jliteral(&j, "null");
				s = str_dup("", 0);
			} else if (c == '"') {
				jstring(&j, &s);
			} else {
				return fail("%s.method: want a method (\"GET\") or a list of methods", where);
			}
			if (r->nmethods == cap) {
				cap = cap ? 2 * cap : 4;
				r->methods = realloc(r->methods, (size_t)cap * sizeof(str));
				if (r->methods == NULL) abort();
			}
			r->methods[r->nmethods++] = s;
			c = jpeek(&j);
			j.p++;
			if (c == ']') break;
		}
	} else {
		return fail("%s.method: want a method (\"GET\") or a list of methods", where);
	}
check:
	r->methods_set = 1;
	for (int i = 0; i < r->nmethods; i++)
		if (!is_token(r->methods[i].p, r->methods[i].n))
			return fail("%s.method: %s is not an HTTP method", where, QS(r->methods[i]));
	return 0;
}

static str *str_new(const str *s) {
	str *o = malloc(sizeof *o);
	if (o == NULL) abort();
	*o = str_dup(s->p, s->n);
	return o;
}

static int check_rule(raw_rule *rr, rule *r, int idx) {
	char where[40], key[400];
	snprintf(where, sizeof where, "rules[%d]", idx);
	r->last = !rr->last_set || rr->last;
	const gore *re = empty_re;
	if (rr->host.n > 0 && host_pattern(&rr->host, &r->host_exact, &r->host_suffix, where) < 0) return -1;
	if (rr->path.n > 0) {
		if (compile_path(&rr->path, &r->path, where) < 0) return -1;
		re = r->path;
	}
	if (parse_methods(rr, r, where) < 0) return -1;
	int n = 0;
	if (rr->rewrite_set) {
		if (!rr->rw_path_set && !rr->rw_query_set && !rr->rw_host_set && rr->rw_qparams.len == 0)
			return fail("%s.rewrite: empty; give path, query, query_params or host", where);
		if (rr->rw_path_set) {
			const str *p = &rr->rw_path;
			if (!has_prefix(p->p, p->n, "/", 1) && !has_prefix(p->p, p->n, "$", 1))
				return fail("%s.rewrite.path: %s must start with \"/\" (or with a capture that does)", where, QS(*p));
			if (CONTAINS_ANY(p->p, p->n, " ?#\t\r\n"))
				return fail("%s.rewrite.path: %s contains a space, '?' or '#'; set the query with rewrite.query", where, QS(*p));
			snprintf(key, sizeof key, "%s.rewrite.path", where);
			if (check_template(p, re, key) < 0) return -1;
			r->new_path = str_new(p);
		}
		if (rr->rw_query_set) {
			const str *p = &rr->rw_query;
			if (CONTAINS_ANY(p->p, p->n, " #\t\r\n") || has_prefix(p->p, p->n, "?", 1))
				return fail("%s.rewrite.query: %s: write the raw query without '?', spaces or '#'", where, QS(*p));
			snprintf(key, sizeof key, "%s.rewrite.query", where);
			if (check_template(p, re, key) < 0) return -1;
			r->new_query = str_new(p);
		}
		if (rr->rw_query_set && rr->rw_qparams.len > 0)
			return fail("%s.rewrite.query_params: cannot be combined with rewrite.query; put the parameters in the query", where);
		pmap *qp = &rr->rw_qparams;
		qsort(qp->items, (size_t)qp->len, sizeof(param), param_cmp);
		r->qparams = calloc((size_t)qp->len + 1, sizeof(param));
		if (r->qparams == NULL) abort();
		for (int i = 0; i < qp->len; i++) {
			if (qp->items[i].name.n == 0) return fail("%s.rewrite.query_params: an empty parameter name", where);
			r->qparams[r->nqparams].name = str_dup(qp->items[i].name.p, qp->items[i].name.n);
			r->qparams[r->nqparams].value = str_dup(qp->items[i].value.p, qp->items[i].value.n);
			r->nqparams++;
		}
		if (rr->rw_host_set) {
			const str *h = &rr->rw_host;
			if (h->n == 0 || CONTAINS_ANY(h->p, h->n, " /\t\r\n"))
				return fail("%s.rewrite.host: %s is not a host (host or host:port)", where, QS(*h));
			snprintf(key, sizeof key, "%s.rewrite.host", where);
			if (check_template(h, re, key) < 0) return -1;
			r->new_host = str_new(h);
		}
		n++;
	}
	pmap *sh = &rr->set_headers;
	qsort(sh->items, (size_t)sh->len, sizeof(param), param_cmp);
	r->set_headers = calloc((size_t)sh->len + 1, sizeof(param));
	if (r->set_headers == NULL) abort();
	for (int i = 0; i < sh->len; i++) {
		const str *name = &sh->items[i].name, *v = &sh->items[i].value;
		if (!is_token(name->p, name->n)) return fail("%s.set_headers: %s is not a header name", where, QS(*name));
		if (CONTAINS_ANY(v->p, v->n, "\r\n\0"))
			return fail("%s.set_headers.%.*s: the value contains CR, LF or NUL", where, (int)name->n, name->p);
		snprintf(key, sizeof key, "%s.set_headers.%.*s", where, (int)(name->n > 300 ? 300 : name->n), name->p);
		if (check_template(v, re, key) < 0) return -1;
		r->set_headers[r->nset_headers].name = str_dup(name->p, name->n);
		r->set_headers[r->nset_headers].value = str_dup(v->p, v->n);
		r->nset_headers++;
		n++;
	}
	slice *rh = &rr->remove_headers;
	r->remove_headers = calloc((size_t)rh->len + 1, sizeof(str));
	if (r->remove_headers == NULL) abort();
	for (int i = 0; i < rh->len; i++) {
		const str *name = &((str *)rh->items)[i];
		if (!is_token(name->p, name->n))
			return fail("%s.remove_headers[%d]: %s is not a header name", where, i, QS(*name));
		r->remove_headers[r->nremove++] = str_dup(name->p, name->n);
		n++;
	}
	if (rr->redirect_set) {
		if (n > 0)
			return fail("%s.redirect: cannot be combined with rewrite, set_headers or remove_headers: a redirect answers the request",
			            where);
		int64_t c = rr->rd_code;
		if (c != 301 && c != 302 && c != 303 && c != 307 && c != 308)
			return fail("%s.redirect.code: %lld: want 301, 302, 303, 307 or 308", where, (long long)c);
		const str *to = &rr->rd_to;
		if (to->n == 0 || CONTAINS_ANY(to->p, to->n, " \t\r\n"))
			return fail("%s.redirect.to: %s: want a URL without spaces", where, QS(*to));
		snprintf(key, sizeof key, "%s.redirect.to", where);
		if (check_template(to, re, key) < 0) return -1;
		r->redirect_code = (int)c;
		r->redirect_to = str_dup(to->p, to->n);
		n++;
	}
	if (n == 0) return fail("%s: no action; give rewrite, set_headers, remove_headers or redirect", where);
	return 0;
}

static int framing(const str *name) {
	static const char *const h[] = {"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
	                                "Proxy-Connection", "Te", "Trailer", "Upgrade"};
	for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
		if (equal_fold_ascii(name->p, name->n, h[i])) return 1;
	return 0;
}

static void copy_fts(const slice *s, fromto **out, int *n) {
	*out = calloc((size_t)s->len + 1, sizeof(fromto));
	if (*out == NULL) abort();
	for (int i = 0; i < s->len; i++) {
		const fromto *f = &((fromto *)s->items)[i];
		(*out)[i].from = str_dup(f->from.p ? f->from.p : "", f->from.n);
		(*out)[i].to = str_dup(f->to.p ? f->to.p : "", f->to.n);
	}
	*n = s->len;
}

static int check_resp(raw_resp *rr, resp_rule *r, int idx) {
	char where[40];
	snprintf(where, sizeof where, "response[%d]", idx);
	r->last = !rr->last_set || rr->last;
	if (rr->host.n > 0 && host_pattern(&rr->host, &r->host_exact, &r->host_suffix, where) < 0) return -1;
	if (rr->path.n > 0 && compile_path(&rr->path, &r->path, where) < 0) return -1;
	for (int i = 0; i < rr->status.len; i++) {
		int64_t s = ((int64_t *)rr->status.items)[i];
		if (s < 100 || s > 599) return fail("%s.status: %lld is not an HTTP status (100..599)", where, (long long)s);
	}
	r->status_set = rr->status.set;
	r->nstatus = rr->status.len;
	r->status = calloc((size_t)r->nstatus + 1, sizeof(int64_t));
	if (r->status == NULL) abort();
	if (r->nstatus) memcpy(r->status, rr->status.items, (size_t)r->nstatus * sizeof(int64_t));
	int n = 0;
	for (int i = 0; i < rr->location.len; i++) {
		const fromto *f = &((fromto *)rr->location.items)[i];
		if (f->from.n == 0 || CONTAINS_ANY(f->from.p, f->from.n, "\r\n\0") || CONTAINS_ANY(f->to.p, f->to.n, "\r\n\0"))
			return fail("%s.location[%d]: want from (a non-empty URL prefix) and to, without CR, LF or NUL", where, i);
		n++;
	}
	copy_fts(&rr->location, &r->location, &r->nlocation);
	pmap *sh = &rr->set_headers;
	qsort(sh->items, (size_t)sh->len, sizeof(param), param_cmp);
	r->set_headers = calloc((size_t)sh->len + 1, sizeof(param));
	if (r->set_headers == NULL) abort();
	for (int i = 0; i < sh->len; i++) {
		const str *name = &sh->items[i].name, *v = &sh->items[i].value;
		if (!is_token(name->p, name->n)) return fail("%s.set_headers: %s is not a header name", where, QS(*name));
		if (equal_fold_ascii(name->p, name->n, "Set-Cookie"))
			return fail("%s.set_headers: Set-Cookie cannot be set here; rewrite cookies with cookie_domain and cookie_path", where);
		if (framing(name))
			return fail("%s.set_headers: %.*s frames the response; the host keeps it", where, (int)name->n, name->p);
		if (CONTAINS_ANY(v->p, v->n, "\r\n\0"))
			return fail("%s.set_headers.%.*s: the value contains CR, LF or NUL", where, (int)name->n, name->p);
		r->set_headers[r->nset_headers].name = str_dup(name->p, name->n);
		r->set_headers[r->nset_headers].value = str_dup(v->p, v->n);
		r->nset_headers++;
		n++;
	}
	slice *hh = &rr->hide_headers;
	r->hide_headers = calloc((size_t)hh->len + 1, sizeof(str));
	if (r->hide_headers == NULL) abort();
	for (int i = 0; i < hh->len; i++) {
		const str *name = &((str *)hh->items)[i];
		if (!is_token(name->p, name->n)) return fail("%s.hide_headers[%d]: %s is not a header name", where, i, QS(*name));
		if (framing(name))
			return fail("%s.hide_headers[%d]: %.*s frames the response; the host keeps it", where, i, (int)name->n, name->p);
		r->hide_headers[r->nhide++] = str_dup(name->p, name->n);
		n++;
	}
	for (int i = 0; i < rr->cookie_domain.len; i++) {
		const fromto *f = &((fromto *)rr->cookie_domain.items)[i];
		if (f->from.n == 0 || f->to.n == 0 || CONTAINS_ANY(f->from.p, f->from.n, " ;,\t\r\n\0") ||
		    CONTAINS_ANY(f->to.p, f->to.n, " ;,\t\r\n\0"))
			return fail("%s.cookie_domain[%d]: want from and to domains, without spaces, ';' or ','", where, i);
		n++;
	}
	copy_fts(&rr->cookie_domain, &r->cookie_domain, &r->ncookie_domain);
	for (int i = 0; i < rr->cookie_path.len; i++) {
		const fromto *f = &((fromto *)rr->cookie_path.items)[i];
		if (!has_prefix(f->from.p, f->from.n, "/", 1) || !has_prefix(f->to.p, f->to.n, "/", 1) ||
		    CONTAINS_ANY(f->from.p, f->from.n, " ;\t\r\n\0") || CONTAINS_ANY(f->to.p, f->to.n, " ;\t\r\n\0"))
			return fail("%s.cookie_path[%d]: want from and to paths starting with \"/\", without spaces or ';'", where, i);
		n++;
	}
	copy_fts(&rr->cookie_path, &r->cookie_path, &r->ncookie_path);
	if (n == 0) return fail("%s: no action; give location, set_headers, hide_headers, cookie_domain or cookie_path", where);
	return 0;
}

/* decode_rule decodes one rule's raw text (a fresh json.Decoder with
   DisallowUnknownFields) */
static int decode_obj(const str *raw, const char *where, member_fn each, void *ctx) {
	jr r;
	r.p = raw->p;
	r.end = raw->p + raw->n;
	r.err[0] = '\0';
	int c = jpeek(&r);
	if (c == 'n') return 0; /* null: the zero rule */
	if (c != '{') return fail("%s: the configuration must be a JSON object, got JSON %s", where, jtype(c));
	if (jobject(&r, "", each, ctx) < 0) return fail("%s: %s", where, r.err);
	return 0;
}

static int parse_config(const char *text, size_t n) {
	if (only_space(text, n)) return fail("rules: none given; list at least one rule (or response rule)");
	jr r;
	r.p = text;
	r.end = text + n;
	r.err[0] = '\0';
	/* the syntax of the whole value first, as the json.Decoder reads it */
	if (jskip(&r, 0) < 0) return fail("not valid JSON at byte %d: %s", (int)(r.p - text) + 1, r.err);
	const char *value_end = r.p;
	r.p = text;
	raw_config rc;
	memset(&rc, 0, sizeof rc);
	int res = 0;
	int c = jpeek(&r);
	if (c == 'n') {
		/* null decodes into nothing */
	} else if (c != '{') {
		res = fail("the configuration must be a JSON object, got JSON %s", jtype(c));
	} else if (jobject(&r, "", config_member, &rc) < 0) {
		res = fail("%s", r.err);
	}
	if (res == 0) {
		r.p = value_end;
		c = jpeek(&r);
		if (c >= 0 && c != '}' && c != ']') res = fail("trailing data after the JSON object");
	}
	if (res == 0 && rc.rules.len == 0 && rc.response.len == 0)
		res = fail("rules: none given; list at least one rule (or response rule)");
	if (res == 0) {
		resp_rules = calloc((size_t)rc.response.len + 1, sizeof(resp_rule));
		if (resp_rules == NULL) abort();
		for (int i = 0; i < rc.response.len && res == 0; i++) {
			raw_resp rr;
			memset(&rr, 0, sizeof rr);
			char where[40];
			snprintf(where, sizeof where, "response[%d]", i);
			if (decode_obj(&((str *)rc.response.items)[i], where, resp_member, &rr) < 0 ||
			    check_resp(&rr, &resp_rules[i], i) < 0) {
				res = -1;
			} else {
				char h[40];
				snprintf(h, sizeof h, "response_%d_hits", i);
				resp_rules[i].hits = strdup(h);
				nresp++;
			}
			raw_resp_free(&rr);
		}
	}
	if (res == 0) {
		rules = calloc((size_t)rc.rules.len + 1, sizeof(rule));
		if (rules == NULL) abort();
		for (int i = 0; i < rc.rules.len && res == 0; i++) {
			raw_rule rr;
			memset(&rr, 0, sizeof rr);
			char where[40];
			snprintf(where, sizeof where, "rules[%d]", i);
			if (decode_obj(&((str *)rc.rules.items)[i], where, rule_member, &rr) < 0 || check_rule(&rr, &rules[i], i) < 0) {
				res = -1;
			} else {
				char h[40];
				snprintf(h, sizeof h, "rule_%d_hits", i);
				rules[i].hits = strdup(h);
				nrules++;
			}
			raw_rule_free(&rr);
		}
	}
	free_strs(&rc.rules);
	free(rc.rules.items);
	free_strs(&rc.response);
	free(rc.response.items);
	return res;
}

/* ---- request filters (requestFilter) ---- */

static void list_add_new(str *list, int *count, const char *s, size_t n) {
	/* list is NUL-separated; appendNew */
	size_t off = 0;
	for (int i = 0; i < *count; i++) {
		size_t l = strlen(list->p + off);
		if (l == n && memcmp(list->p + off, s, n) == 0) return;
		off += l + 1;
	}
	if (*count > 0) sb_addc(list, '\0');
	sb_add(list, s, n);
	(*count)++;
}

static void declare_filters(void) {
	str hosts = {NULL, 0}, paths = {NULL, 0}, methods = {NULL, 0};
	int nh = 0, np = 0, nm = 0;
	int total = nrules + nresp;
	int hosts_ok = total > 0, paths_ok = total > 0, methods_ok = total > 0;
	for (int i = 0; i < total; i++) {
		const str *he, *hs;
		const gore *path;
		int is_req = i < nrules;
		if (is_req) {
			he = &rules[i].host_exact;
			hs = &rules[i].host_suffix;
			path = rules[i].path;
		} else {
			he = &resp_rules[i - nrules].host_exact;
			hs = &resp_rules[i - nrules].host_suffix;
			path = resp_rules[i - nrules].path;
		}
		if (he->n > 0 && !CONTAINS_ANY(he->p, he->n, ":/ *")) {
			list_add_new(&hosts, &nh, he->p, he->n);
		} else if (he->n == 0 && hs->n > 0 && !CONTAINS_ANY(hs->p, hs->n, ":/ *")) {
			str w = str_dup("*", 1);
			sb_add(&w, hs->p, hs->n);
			list_add_new(&hosts, &nh, w.p, w.n);
			str_free(&w);
		} else {
			hosts_ok = 0;
		}
		if (path == NULL) {
			paths_ok = 0;
		} else {
			const char *p = path->prefix;
			size_t pn = path->prefix_len;
			if (pn > 0 && p[0] == '/' && !CONTAINS_ANY(p, pn, " \r\n\t?#")) list_add_new(&paths, &np, p, pn);
			else paths_ok = 0;
		}
		if (is_req && rules[i].methods_set) {
			for (int k = 0; k < rules[i].nmethods; k++)
				list_add_new(&methods, &nm, rules[i].methods[k].p, rules[i].methods[k].n);
		} else {
			methods_ok = 0;
		}
	}
	if (hosts_ok && nh > 0) postern_field_set(POSTERN_FIELD_ONLY_HOSTS, hosts.p, (uint32_t)hosts.n);
	if (paths_ok && np > 0) postern_field_set(POSTERN_FIELD_ONLY_PATHS, paths.p, (uint32_t)paths.n);
	if (methods_ok && nm > 0) postern_field_set(POSTERN_FIELD_ONLY_METHODS, methods.p, (uint32_t)methods.n);
	str_free(&hosts);
	str_free(&paths);
	str_free(&methods);
}

POSTERN_EXPORT("postern_init") int32_t init(void) {
	char *text;
	char e[8];
	int c;
	empty_re = gore_compile("", 0, e, sizeof e, &c);
	int32_t n = postern_config_dup(&text);
	if (n < 0) {
		postern_set_message("url-rewrite: config: cannot read the configuration");
		return POSTERN_INIT_REFUSE;
	}
	int res = parse_config(text, (size_t)n);
	free(text);
	if (res < 0) {
		char msg[1100];
		snprintf(msg, sizeof msg, "url-rewrite: config: %s", errbuf);
		postern_set_message(msg);
		return POSTERN_INIT_REFUSE;
	}
	err_logged = 0;
	declare_filters();
	return POSTERN_INIT_OK;
}

/* ---- the rewrite hook (rewrite.go) ---- */

static str field_str(int32_t f) {
	char *p;
	int32_t n = postern_field_dup(f, &p);
	str s = {NULL, 0};
	if (n < 0) return str_dup("", 0);
	s.p = p;
	s.n = (size_t)n;
	return s;
}

static void counter(const char *name) { postern_counter_add(name, (uint32_t)strlen(name), 1); }

static const char *err_text(int32_t e) {
	switch (e) {
	case POSTERN_ERR_UNKNOWN_FIELD: return "postern: unknown field";
	case POSTERN_ERR_NOT_AVAILABLE: return "postern: not available in this hook";
	case POSTERN_ERR_READ_ONLY: return "postern: field is read-only in this hook";
	case POSTERN_ERR_INVALID: return "postern: invalid argument";
	case POSTERN_ERR_NOT_FOUND: return "postern: not found";
	case POSTERN_ERR_UNAVAILABLE: return "postern: unavailable";
	case POSTERN_ERR_TOO_LARGE: return "postern: too large";
	case POSTERN_ERR_DENIED: return "postern: destination not allowed";
	case POSTERN_ERR_EXISTS: return "postern: already exists";
	case POSTERN_ERR_TIMEOUT: return "postern: timeout";
	}
	return "postern: error";
}

/* failed counts a write the host refused and logs the first one */
static void failed(const char *hits, const char *what, int32_t err) {
	counter("errors");
	if (!err_logged) {
		err_logged = 1;
		char buf[600];
		int hn = (int)strlen(hits) - 5; /* without "_hits" */
		int n = snprintf(buf, sizeof buf,
		                 "url-rewrite: %.*s: the host refused the rewritten %s (%s); the request goes on without it; check the rule's templates (logged once per instance, counted in errors)",
		                 hn, hits, what, err_text(err));
		if (n > (int)sizeof buf - 1) n = (int)sizeof buf - 1;
		postern_log(POSTERN_LEVEL_WARN, buf, (uint32_t)n);
	}
}

/* expand is regexp.Expand of template t against src with the match m */
static str expand(const gore *re, const str *t, const char *src, const int *m) {
	str o = str_dup("", 0);
	const char *p = t->p, *end = t->p + t->n;
	int nm = 2 * (re->ngroups + 1);
	while (p < end) {
		const char *d = memchr(p, '$', (size_t)(end - p));
		if (d == NULL) break;
		sb_add(&o, p, (size_t)(d - p));
		p = d + 1;
		if (p < end && *p == '$') {
			sb_addc(&o, '$');
			p++;
			continue;
		}
		/* extract */
		const char *s = p;
		int brace = 0;
		if (s < end && *s == '{') {
			brace = 1;
			s++;
		}
		const char *ns = s;
		while (s < end) {
			uint32_t r;
			int w = utf8_decode((const unsigned char *)s, (size_t)(end - s), &r);
			if (!(r == '_' || is_letter_digit(r)) || (r == 0xFFFD && w == 1)) break;
			s += w;
		}
		size_t nl = (size_t)(s - ns);
		if (nl == 0 || (brace && (s >= end || *s != '}'))) {
			sb_addc(&o, '$'); /* malformed: $ as text */
			continue;
		}
		if (brace) s++;
		long num = 0;
		for (size_t i = 0; i < nl; i++) {
			if (ns[i] < '0' || ns[i] > '9' || num >= 100000000) {
				num = -1;
				break;
			}
			num = num * 10 + (ns[i] - '0');
		}
		if (ns[0] == '0' && nl > 1) num = -1;
		p = s;
		if (num >= 0) {
			if (2 * num + 1 < nm && m[2 * num] >= 0) sb_add(&o, src + m[2 * num], (size_t)(m[2 * num + 1] - m[2 * num]));
		} else {
			for (int i = 0; i <= re->ngroups; i++) {
				if (strlen(re->names[i]) == nl && memcmp(re->names[i], ns, nl) == 0 && 2 * i + 1 < nm && m[2 * i] >= 0) {
					sb_add(&o, src + m[2 * i], (size_t)(m[2 * i + 1] - m[2 * i]));
					break;
				}
			}
		}
	}
	sb_add(&o, p, (size_t)(end - p));
	return o;
}

/* hostname strips a port and a trailing dot */
static void hostname(const char *h, size_t n, const char **out, size_t *outn) {
	if (n > 0 && h[0] == '[') {
		const char *c = memchr(h, ']', n);
		if (c != NULL && c > h) {
			*out = h + 1;
			*outn = (size_t)(c - h - 1);
			return;
		}
		*out = h;
		*outn = n;
		return;
	}
	const char *first = memchr(h, ':', n);
	if (first != NULL) {
		const char *last = first;
		for (const char *x = first + 1; x < h + n; x++)
			if (*x == ':') last = x;
		if (last == first) n = (size_t)(first - h);
	}
	if (n > 0 && h[n - 1] == '.') n--;
	*out = h;
	*outn = n;
}

static int host_matches(const str *exact, const str *suffix, const str *host) {
	if (exact->n == 0 && suffix->n == 0) return 1;
	const char *h;
	size_t hn;
	hostname(host->p, host->n, &h, &hn);
	str l = go_lower(h, hn);
	int ok = 1;
	if (exact->n > 0 && !str_eq(l.p, l.n, exact->p, exact->n)) ok = 0;
	if (ok && suffix->n > 0 && (l.n <= suffix->n || memcmp(l.p + l.n - suffix->n, suffix->p, suffix->n) != 0)) ok = 0;
	str_free(&l);
	return ok;
}

/* url.QueryEscape */
static void query_escape(str *o, const char *s, size_t n) {
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
		    c == '~') {
			sb_addc(o, (char)c);
		} else if (c == ' ') {
			sb_addc(o, '+');
		} else {
			char b[3] = {'%', hex[c >> 4], hex[c & 15]};
			sb_add(o, b, 3);
		}
	}
}

static int hexval(char c) {
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* url.QueryUnescape: -1 on a bad escape */
static int query_unescape(const char *s, size_t n, str *o) {
	*o = str_dup("", 0);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) {
				str_free(o);
				return -1;
			}
			sb_addc(o, (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
			i += 2;
		} else if (s[i] == '+') {
			sb_addc(o, ' ');
		} else {
			sb_addc(o, s[i]);
		}
	}
	return 0;
}

/* setParams */
static str set_params(const str *raw, const param *ps, int np) {
	/* parts as (offset, length) into a working copy list of strs */
	int n = 0, cap = 0;
	str *parts = NULL;
	if (raw->n > 0) {
		const char *p = raw->p, *end = raw->p + raw->n;
		for (;;) {
			const char *a = memchr(p, '&', (size_t)(end - p));
			const char *e = a ? a : end;
			if (n == cap) {
				cap = cap ? 2 * cap : 8;
				parts = realloc(parts, (size_t)cap * sizeof(str));
				if (parts == NULL) abort();
			}
			parts[n++] = str_dup(p, (size_t)(e - p));
			if (a == NULL) break;
			p = a + 1;
		}
	}
	for (int k = 0; k < np; k++) {
		str enc = str_dup("", 0);
		query_escape(&enc, ps[k].name.p, ps[k].name.n);
		sb_addc(&enc, '=');
		query_escape(&enc, ps[k].value.p, ps[k].value.n);
		int found = 0, w = 0;
		for (int i = 0; i < n; i++) {
			const char *eq = memchr(parts[i].p, '=', parts[i].n);
			size_t nl = eq ? (size_t)(eq - parts[i].p) : parts[i].n;
			str un;
			int match = str_eq(parts[i].p, nl, ps[k].name.p, ps[k].name.n);
			if (!match && query_unescape(parts[i].p, nl, &un) == 0) {
				match = str_eq(un.p, un.n, ps[k].name.p, ps[k].name.n);
				str_free(&un);
			}
			if (match) {
				if (found) {
					str_free(&parts[i]);
					continue;
				}
				found = 1;
				str_free(&parts[i]);
				parts[i] = str_dup(enc.p, enc.n);
			}
			parts[w++] = parts[i];
		}
		n = w;
		if (!found) {
			if (n == cap) {
				cap = cap ? 2 * cap : 8;
				parts = realloc(parts, (size_t)cap * sizeof(str));
				if (parts == NULL) abort();
			}
			parts[n++] = str_dup(enc.p, enc.n);
		}
		str_free(&enc);
	}
	str o = str_dup("", 0);
	for (int i = 0; i < n; i++) {
		if (i > 0) sb_addc(&o, '&');
		sb_add(&o, parts[i].p, parts[i].n);
		str_free(&parts[i]);
	}
	free(parts);
	return o;
}

static int set_field(const rule *r, const char *what, int32_t f, const str *v) {
	int32_t e = postern_field_set(f, v->p, (uint32_t)v->n);
	if (e < 0) {
		failed(r->hits, what, e);
		return 0;
	}
	return 1;
}

static int *match_buf;
static int match_cap;

static int rule_match(const rule *r, const str *method, const str *host, const str *path, int **m) {
	if (r->methods_set) {
		int ok = 0;
		for (int i = 0; i < r->nmethods && !ok; i++) ok = str_eq(r->methods[i].p, r->methods[i].n, method->p, method->n);
		if (!ok) return 0;
	}
	if (!host_matches(&r->host_exact, &r->host_suffix, host)) return 0;
	const gore *re = r->path ? r->path : empty_re;
	int need = 2 * (re->ngroups + 1);
	if (match_cap < need) {
		free(match_buf);
		match_buf = malloc((size_t)need * sizeof(int));
		if (match_buf == NULL) abort();
		match_cap = need;
	}
	*m = match_buf;
	if (r->path == NULL) {
		match_buf[0] = match_buf[1] = 0;
		return 1;
	}
	return gore_match(r->path, path->p, path->n, match_buf);
}

POSTERN_EXPORT("postern_hook_rewrite") int32_t hook_rewrite(void) {
	str method = field_str(POSTERN_FIELD_HTTP_METHOD);
	str host = field_str(POSTERN_FIELD_HTTP_HOST);
	str path = field_str(POSTERN_FIELD_HTTP_PATH);
	int32_t verdict = POSTERN_VERDICT_CONTINUE;
	for (int i = 0; i < nrules; i++) {
		const rule *r = &rules[i];
		int *m;
		if (!rule_match(r, &method, &host, &path, &m)) continue;
		counter(r->hits);
		const gore *re = r->path ? r->path : empty_re;
		if (r->redirect_code != 0) {
			str to = expand(re, &r->redirect_to, path.p, m);
			char code[8];
			snprintf(code, sizeof code, "%d", r->redirect_code);
			int32_t e = postern_field_set_str(POSTERN_FIELD_REDIRECT_CODE, code);
			if (e >= 0) e = postern_field_set(POSTERN_FIELD_REDIRECT_URL, to.p, (uint32_t)to.n);
			str_free(&to);
			if (e < 0) {
				failed(r->hits, "redirect", e);
				break;
			}
			counter("redirects");
			verdict = POSTERN_VERDICT_DONE;
			break;
		}
		if (r->new_query != NULL) {
			str v = expand(re, r->new_query, path.p, m);
			set_field(r, "query", POSTERN_FIELD_HTTP_QUERY, &v);
			str_free(&v);
		}
		if (r->nqparams > 0) {
			str cur = field_str(POSTERN_FIELD_HTTP_QUERY);
			str v = set_params(&cur, r->qparams, r->nqparams);
			set_field(r, "query", POSTERN_FIELD_HTTP_QUERY, &v);
			str_free(&v);
			str_free(&cur);
		}
		if (r->new_host != NULL) {
			str h = expand(re, r->new_host, path.p, m);
			if (set_field(r, "host", POSTERN_FIELD_HTTP_HOST, &h)) {
				str_free(&host);
				host = h;
			} else {
				str_free(&h);
			}
		}
		for (int k = 0; k < r->nset_headers; k++) {
			str v = expand(re, &r->set_headers[k].value, path.p, m);
			const str *nm = &r->set_headers[k].name;
			int32_t e = postern_field_set_key(POSTERN_FIELD_HTTP_HEADER, nm->p, (uint32_t)nm->n, v.p, (uint32_t)v.n);
			str_free(&v);
			if (e < 0) {
				str what = str_dup("header ", 7);
				sb_add(&what, nm->p, nm->n);
				failed(r->hits, what.p, e);
				str_free(&what);
			}
		}
		for (int k = 0; k < r->nremove; k++)
			postern_field_delete_key(POSTERN_FIELD_HTTP_HEADER, r->remove_headers[k].p, (uint32_t)r->remove_headers[k].n);
		if (r->new_path != NULL) {
			str p = expand(re, r->new_path, path.p, m);
			if (set_field(r, "path", POSTERN_FIELD_HTTP_PATH, &p)) {
				str_free(&path);
				path = p;
			} else {
				str_free(&p);
			}
		}
		if (r->last) break;
	}
	str_free(&method);
	str_free(&host);
	str_free(&path);
	return verdict;
}

/* ---- the response hook (response.go) ---- */

/* strings.TrimSpace (Unicode white space) */
static void trim_space(const char **s, size_t *n) {
	const unsigned char *u = (const unsigned char *)*s;
	size_t i = 0, end = *n, last = 0;
	while (i < end) {
		uint32_t r;
		int w = utf8_decode(u + i, end - i, &r);
		if ((r == 0xFFFD && w == 1) || !is_space(r)) break;
		i += (size_t)w;
	}
	size_t start = i;
	last = start;
	while (i < end) {
		uint32_t r;
		int w = utf8_decode(u + i, end - i, &r);
		i += (size_t)w;
		if ((r == 0xFFFD && w == 1) || !is_space(r)) last = i;
	}
	*s += start;
	*n = last - start;
}

/* equal_fold is strings.EqualFold (simple Unicode case folding; a byte
 * that is not UTF-8 reads as U+FFFD). */
static int equal_fold(const char *a, size_t an, const char *b, size_t bn) {
	const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
	size_t i = 0, j = 0;
	while (i < an && j < bn) {
		uint32_t sr, tr;
		i += (size_t)utf8_decode(x + i, an - i, &sr);
		j += (size_t)utf8_decode(y + j, bn - j, &tr);
		if (sr == tr) continue;
		if (tr < sr) {
			uint32_t t = tr;
			tr = sr;
			sr = t;
		}
		if (tr < 0x80) {
			if (sr >= 'A' && sr <= 'Z' && tr == sr + 'a' - 'A') continue;
			return 0;
		}
		uint32_t r = gore_simple_fold(sr);
		while (r != sr && r < tr) r = gore_simple_fold(r);
		if (r == tr) continue;
		return 0;
	}
	return i == an && j == bn;
}

typedef int (*attr_fn)(const char *v, size_t vn, const fromto *ft, str *out);

static int cookie_domain_fn(const char *v, size_t vn, const fromto *ft, str *out) {
	int dot = vn > 0 && v[0] == '.';
	const char *a = v, *b = ft->from.p;
	size_t an = vn, bn = ft->from.n;
	if (dot) {
		a++;
		an--;
	}
	if (bn > 0 && b[0] == '.') {
		b++;
		bn--;
	}
	if (!equal_fold(a, an, b, bn)) return 0;
	const char *t = ft->to.p;
	size_t tn = ft->to.n;
	if (tn > 0 && t[0] == '.') {
		t++;
		tn--;
	}
	*out = str_dup("", 0);
	if (dot) sb_addc(out, '.');
	sb_add(out, t, tn);
	return 1;
}

static int cookie_path_fn(const char *v, size_t vn, const fromto *ft, str *out) {
	if (ft->from.n == 0 || !has_prefix(v, vn, ft->from.p, ft->from.n)) return 0;
	*out = str_dup(ft->to.p, ft->to.n);
	sb_add(out, v + ft->from.n, vn - ft->from.n);
	return 1;
}

/* rewriteAttr */
static str rewrite_attr(const str *c, const char *name, attr_fn fn, const fromto *ft) {
	const char *semi = memchr(c->p, ';', c->n);
	if (semi == NULL) return str_dup(c->p, c->n);
	str b = str_dup(c->p, (size_t)(semi - c->p));
	const char *rest = semi, *end = c->p + c->n;
	int done = 0;
	while (rest < end) {
		const char *j = memchr(rest + 1, ';', (size_t)(end - rest - 1));
		const char *pend = j ? j : end;
		const char *part = rest;
		size_t partn = (size_t)(pend - rest);
		rest = pend;
		if (!done) {
			const char *attr = part + 1;
			size_t attrn = partn - 1;
			const char *tr = attr;
			size_t trn = attrn;
			while (trn > 0 && (*tr == ' ' || *tr == '\t')) {
				tr++;
				trn--;
			}
			const char *eq = memchr(tr, '=', trn);
			if (eq != NULL) {
				const char *an = tr;
				size_t ann = (size_t)(eq - tr);
				trim_space(&an, &ann);
				if (equal_fold(an, ann, name, strlen(name))) {
					const char *v = eq + 1;
					size_t vn = (size_t)(tr + trn - v);
					trim_space(&v, &vn);
					str nv;
					if (fn(v, vn, ft, &nv)) {
						done = 1;
						sb_addc(&b, ';');
						sb_add(&b, attr, (size_t)(tr - attr));
						sb_add(&b, tr, (size_t)(eq + 1 - tr));
						sb_add(&b, nv.p, nv.n);
						str_free(&nv);
						continue;
					}
				}
			}
		}
		sb_add(&b, part, partn);
	}
	return b;
}

static str rewrite_cookie(const str *c, const resp_rule *r) {
	str cur = str_dup(c->p, c->n);
	for (int i = 0; i < r->ncookie_domain; i++) {
		str nc = rewrite_attr(&cur, "domain", cookie_domain_fn, &r->cookie_domain[i]);
		if (!str_eq(nc.p, nc.n, cur.p, cur.n)) {
			str_free(&cur);
			cur = nc;
			break;
		}
		str_free(&nc);
	}
	for (int i = 0; i < r->ncookie_path; i++) {
		str nc = rewrite_attr(&cur, "path", cookie_path_fn, &r->cookie_path[i]);
		if (!str_eq(nc.p, nc.n, cur.p, cur.n)) {
			str_free(&cur);
			cur = nc;
			break;
		}
		str_free(&nc);
	}
	return cur;
}

static void resp_apply(const resp_rule *r) {
	for (int i = 0; i < r->nlocation; i++) {
		const fromto *ft = &r->location[i];
		char *loc;
		int32_t n = postern_key_dup(POSTERN_FIELD_RESPONSE_HEADER, "Location", &loc);
		str l = {NULL, 0};
		if (n >= 0) {
			l.p = loc;
			l.n = (size_t)n;
		} else {
			l = str_dup("", 0);
		}
		int ok = 0;
		int32_t e = 0;
		if (ft->from.n > 0 && has_prefix(l.p, l.n, ft->from.p, ft->from.n)) {
			str out = str_dup(ft->to.p, ft->to.n);
			sb_add(&out, l.p + ft->from.n, l.n - ft->from.n);
			ok = 1;
			e = postern_field_set_key(POSTERN_FIELD_RESPONSE_HEADER, "Location", 8, out.p, (uint32_t)out.n);
			str_free(&out);
		}
		str_free(&l);
		if (e < 0) failed(r->hits, "Location", e);
		if (ok || e < 0) break;
	}
	for (int i = 0; i < r->nhide; i++)
		postern_field_delete_key(POSTERN_FIELD_RESPONSE_HEADER, r->hide_headers[i].p, (uint32_t)r->hide_headers[i].n);
	for (int i = 0; i < r->nset_headers; i++) {
		const param *h = &r->set_headers[i];
		int32_t e = postern_field_set_key(POSTERN_FIELD_RESPONSE_HEADER, h->name.p, (uint32_t)h->name.n, h->value.p,
		                                  (uint32_t)h->value.n);
		if (e < 0) {
			str what = str_dup("header ", 7);
			sb_add(&what, h->name.p, h->name.n);
			failed(r->hits, what.p, e);
			str_free(&what);
		}
	}
	if (r->ncookie_domain == 0 && r->ncookie_path == 0) return;
	char *v;
	int32_t n = postern_key_dup(POSTERN_FIELD_RESPONSE_HEADER, "Set-Cookie", &v);
	if (n <= 0) {
		free(v);
		return;
	}
	str out = str_dup("", 0);
	int changed = 0, bad = 0;
	const char *p = v, *end = v + n;
	for (int first = 1;; first = 0) {
		const char *z = memchr(p, '\0', (size_t)(end - p));
		const char *e = z ? z : end;
		str c = str_dup(p, (size_t)(e - p));
		str nc = rewrite_cookie(&c, r);
		if (!str_eq(nc.p, nc.n, c.p, c.n)) changed = 1;
		if (nc.n == 0 || memchr(nc.p, '\0', nc.n) != NULL) bad = 1;
		if (!first) sb_addc(&out, '\0');
		sb_add(&out, nc.p, nc.n);
		str_free(&c);
		str_free(&nc);
		if (z == NULL) break;
		p = z + 1;
	}
	if (changed) {
		int32_t e = bad ? POSTERN_ERR_INVALID
		                : postern_field_set_key(POSTERN_FIELD_RESPONSE_HEADER, "Set-Cookie", 10, out.p, (uint32_t)out.n);
		if (e < 0) failed(r->hits, "Set-Cookie", e);
	}
	str_free(&out);
	free(v);
}

POSTERN_EXPORT("postern_hook_response") int32_t hook_response(void) {
	if (nresp == 0) return POSTERN_VERDICT_CONTINUE;
	str host = field_str(POSTERN_FIELD_HTTP_HOST);
	str path = field_str(POSTERN_FIELD_HTTP_PATH);
	str st = field_str(POSTERN_FIELD_RESPONSE_STATUS);
	/* strconv.Atoi; 0 on error */
	int64_t status = 0;
	{
		const char *s = st.p;
		size_t n = st.n, i = 0;
		int neg = 0, ok = n > 0;
		if (n > 0 && (s[0] == '+' || s[0] == '-')) {
			neg = s[0] == '-';
			i = 1;
			if (n == 1) ok = 0;
		}
		uint64_t v = 0;
		for (; ok && i < n; i++) {
			if (s[i] < '0' || s[i] > '9' || v > 922337203685477580ULL) ok = 0;
			else v = v * 10 + (uint64_t)(s[i] - '0');
		}
		if (ok) status = neg ? -(int64_t)v : (int64_t)v;
	}
	for (int i = 0; i < nresp; i++) {
		const resp_rule *r = &resp_rules[i];
		if (r->status_set) {
			int ok = 0;
			for (int k = 0; k < r->nstatus && !ok; k++) ok = r->status[k] == status;
			if (!ok) continue;
		}
		if (!host_matches(&r->host_exact, &r->host_suffix, &host)) continue;
		if (r->path != NULL) {
			int need = 2 * (r->path->ngroups + 1);
			if (match_cap < need) {
				free(match_buf);
				match_buf = malloc((size_t)need * sizeof(int));
				if (match_buf == NULL) abort();
				match_cap = need;
			}
			if (!gore_match(r->path, path.p, path.n, match_buf)) continue;
		}
		counter(r->hits);
		resp_apply(r);
		if (r->last) break;
	}
	str_free(&host);
	str_free(&path);
	str_free(&st);
	return POSTERN_VERDICT_CONTINUE;
}
