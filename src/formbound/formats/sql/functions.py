"""Functions a read-only SQL query may call: an allowlist, never a denylist.

A function is allowed when sqlglot parses it to one of the typed function expressions listed in
:data:`PURE_FUNCTION_CLASSES` (sqlglot knows what they compute, across dialects), or when the dialect's
table below names it as pure although sqlglot keeps it anonymous. Everything else, an
:class:`~sqlglot.expressions.Anonymous` call, a quoted name (``"pg_sleep"(10)``) or a package-qualified call
(``utl_http.request(…)``) is refused in read-only mode unless the user allows it by name.

The class list was taken from sqlglot's typed functions, leaving out those that read files
(``ReadCSV``, ``ReadParquet``), write them (``ToFile``), advance sequences (``NextValueFor``) or are
placeholders for unknown calls (``Anonymous``, ``AnonymousAggFunc``, ``CombinedAggFunc``,
``ParameterizedAgg``, ``CombinedParameterizedAgg``). A class that a newer sqlglot adds is not allowed until
it is added here.
"""

from __future__ import annotations

__all__ = ["PURE_BY_DIALECT", "PURE_FUNCTION_CLASSES"]

#: Names of the sqlglot function expression classes known to be pure.
PURE_FUNCTION_CLASSES: frozenset[str] = frozenset(
    """
    AIAgg AIClassify AIEmbed AIForecast AIGenerate AISimilarity AISummarizeAgg Abs Acos Acosh AddMonths
    Agg AggFunc And AnyValue Apply ApproxDistinct ApproxPercentileAccumulate ApproxPercentileCombine
    ApproxPercentileEstimate ApproxQuantile ApproxQuantiles ApproxTopK ApproxTopKAccumulate
    ApproxTopKCombine ApproxTopKEstimate ApproxTopSum ApproximateSimilarity ArgMax ArgMin Array ArrayAgg
    ArrayAll ArrayAny ArrayAppend ArrayCompact ArrayConcat ArrayConcatAgg ArrayConstructCompact
    ArrayContainedBy ArrayContains ArrayContainsAll ArrayDistinct ArrayExcept ArrayFilter ArrayFirst
    ArrayInsert ArrayIntersect ArrayLast ArrayMax ArrayMin ArrayOverlaps ArrayPosition ArrayPrepend
    ArrayRemove ArrayRemoveAt ArrayReverse ArraySize ArraySlice ArraySort ArraySum ArrayToString
    ArrayUnionAgg ArrayUniqueAgg ArraysZip Ascii Asin Asinh Atan Atan2 Atanh Avg Base64DecodeBinary
    Base64DecodeString Base64Encode BitLength BitmapBitPosition BitmapBucketNumber BitmapConstructAgg
    BitmapCount BitmapOrAgg BitwiseAndAgg BitwiseCount BitwiseOrAgg BitwiseXorAgg Booland Boolnot Boolor
    BoolxorAgg ByteLength Case Cast CastToStrType Cbrt Ceil CheckJson CheckXml Chr CityHash64 Coalesce
    CodePointsToBytes CodePointsToString Collate Collation Columns Compress Concat ConcatWs
    ConnectByRoot Contains Convert ConvertTimezone ConvertToCharset Corr Cos Cosh CosineDistance Cot
    Coth Count CountIf CovarPop CovarSamp Csc Csch CumeDist CurrentAccount CurrentAccountName
    CurrentAvailableRoles CurrentCatalog CurrentClient CurrentDatabase CurrentDate CurrentDatetime
    CurrentIpAddress CurrentOrganizationName CurrentOrganizationUser CurrentRegion CurrentRole
    CurrentRoleType CurrentSchema CurrentSchemas CurrentSecondaryRoles CurrentSession CurrentStatement
    CurrentTime CurrentTimestamp CurrentTimestampLTZ CurrentTimezone CurrentTransaction CurrentUser
    CurrentUserId CurrentVersion CurrentWarehouse Date DateAdd DateBin DateDiff DateFromParts
    DateFromUnixDate DateStrToDate DateSub DateToDateStr DateToDi DateTrunc Datetime DatetimeAdd
    DatetimeDiff DatetimeSub DatetimeTrunc Day DayOfMonth DayOfWeek DayOfWeekIso DayOfYear Dayname
    Decode DecodeCase DecompressBinary DecompressString Decrypt DecryptRaw Degrees DenseRank DiToDate
    DotProduct DynamicIdentifier Elt Encode Encrypt EncryptRaw EndsWith EqualNull EuclideanDistance
    Exists Exp Explode ExplodingGenerateSeries Extract Factorial FarmFingerprint FeaturesAtTime First
    FirstValue Flatten Float64 Floor Format FromBase FromBase32 FromBase64 FromISO8601Date
    FromISO8601Timestamp FromISO8601TimestampNanos FromJson GapFill GenerateBool GenerateDateArray
    GenerateDouble GenerateEmbedding GenerateInt GenerateSeries GenerateTable GenerateText
    GenerateTimestampArray Generator GetExtract GetIgnoreCase Getbit Greatest GroupConcat Grouping
    GroupingId HashAgg Hex HexDecodeString Hll Host Hour If Initcap Inline Int64 IsArray IsAscii IsInf
    IsNan IsNullValue JSONArray JSONArrayAgg JSONArrayAppend JSONArrayContains JSONArrayInsert
    JSONBContains JSONBContainsAllTopKeys JSONBContainsAnyTopKeys JSONBContainsTopKey JSONBDeleteAtPath
    JSONBExists JSONBExtract JSONBExtractScalar JSONBObjectAgg JSONBPathExists JSONBool JSONCast
    JSONExists JSONExtract JSONExtractArray JSONExtractScalar JSONFormat JSONKeys JSONKeysAtDepth
    JSONObject JSONObjectAgg JSONRemove JSONSet JSONStripNulls JSONTable JSONType JSONValueArray
    JarowinklerSimilarity JustifyDays JustifyHours JustifyInterval Kurtosis Lag Last LastDay LastValue
    LaxBool LaxFloat64 LaxInt64 LaxString Lead Least Left Length Levenshtein List Ln Localtime
    Localtimestamp Log LogicalAnd LogicalOr Lower LowerHex MD5 MD5Digest MD5NumberLower64
    MD5NumberUpper64 MLForecast MLTranslate MakeInterval ManhattanDistance Map MapCat MapContainsKey
    MapDelete MapFromEntries MapInsert MapKeys MapPick MapSize MatchAgainst Max Median Min Minhash
    MinhashCombine Minute Mode Month Monthname MonthsBetween Nanvl Negative NetFunc NextDay Normal
    Normalize NthValue Ntile Nullif NumberToStr Nvl2 ObjectAgg ObjectId ObjectInsert ObjectTransform
    OpenJSON Or Overlay Pad ParseBignumeric ParseDatetime ParseIp ParseJSON ParseNumeric ParseTime
    ParseUrl PercentRank PercentileCont PercentileDisc Pi Posexplode PosexplodeOuter Pow Predict
    PreviousDay Quantile Quarter Radians Rand Randn Randstr RangeBucket RangeN Rank Reduce RegDomain
    RegexpCount RegexpExtract RegexpExtractAll RegexpFullMatch RegexpILike RegexpInstr RegexpLike
    RegexpReplace RegexpSplit RegexpSubstr RegrAvgx RegrAvgy RegrCount RegrIntercept RegrR2 RegrSlope
    RegrSxx RegrSxy RegrSyy RegrValx RegrValy Repeat Replace Reverse Right Rint Round RowNumber
    RtrimmedLength SHA SHA1Digest SHA2 SHA2Digest SafeAdd SafeConvertBytesToString SafeDivide SafeFunc
    SafeMultiply SafeNegate SafeSubtract Search SearchIp Sec Sech Second Secret Seq1 Seq2 Seq4 Seq8
    SessionUser Shuffle Sign Sin Sinh Skewness Soundex SoundexP123 Space Split SplitPart SplitToTable
    Sqrt StDistance StPoint Stack StandardHash StarMap StartsWith Stddev StddevPop StddevSamp
    StrPosition StrToDate StrToMap StrToTime StrToUnix String StringToArray StripNullValue Strtok
    StrtokSplitToTable StrtokToArray Struct StructExtract Stuff Substring SubstringIndex Sum
    Systimestamp Tan Tanh Time TimeAdd TimeDiff TimeFromParts TimeSlice TimeStrToDate TimeStrToTime
    TimeStrToUnix TimeSub TimeToStr TimeToTimeStr TimeToUnix TimeTrunc Timestamp TimestampAdd
    TimestampDiff TimestampFromParts TimestampLtzFromParts TimestampSub TimestampTrunc
    TimestampTzFromParts ToArray ToBase32 ToBase64 ToBinary ToBoolean ToChar ToCodePoints ToDays
    ToDecfloat ToDouble ToMap ToNumber ToVariant Transform Translate Trim Trunc Try
    TryBase64DecodeBinary TryBase64DecodeString TryCast TryHexDecodeBinary TryHexDecodeString
    TryToDecfloat TsOrDiToDi TsOrDsAdd TsOrDsDiff TsOrDsToDate TsOrDsToDateStr TsOrDsToDatetime
    TsOrDsToTime TsOrDsToTimestamp Typeof Unhex Unicode Uniform UnixDate UnixMicros UnixMillis
    UnixSeconds UnixToStr UnixToTime UnixToTimeStr Unnest Upper UtcDate UtcTime UtcTimestamp Uuid VarMap
    Variance VariancePop VectorSearch Week WeekOfYear WeekStart WeightString WidthBucket XMLElement
    XMLGet XMLTable Xor Year YearOfWeek YearOfWeekIso Zipf
    """.split()
)

_COMMON = "abs coalesce ifnull nullif lower upper length trim ltrim rtrim replace substr substring round"
#: Pure functions that sqlglot parses as anonymous calls, per dialect (lower case).
PURE_BY_DIALECT: dict[str, frozenset[str]] = {
    dialect: frozenset((_COMMON + " " + names).split())
    for dialect, names in {
        "sqlite": "julianday datetime time date strftime unixepoch printf format total char unicode quote "
        "soundex likely unlikely likelihood instr glob typeof iif sign zeroblob randomblob",
        "postgres": "age date_part justify_days justify_hours justify_interval initcap btrim lpad rpad "
        "to_number to_timestamp make_date make_interval date_bin width_bucket",
        "duckdb": "list_agg date_part datepart epoch_ms make_date make_timestamp list_value list_extract "
        "string_agg strip_accents",
        "mysql": "now curdate curtime sysdate date_add date_sub dayofweek dayofmonth dayofyear weekday "
        "quarter field elt find_in_set lpad rpad",
        "tsql": "getutcdate sysdatetime eomonth datename isnumeric patindex stuff",
        "oracle": "trunc nvl nvl2 add_months months_between last_day next_day initcap lpad rpad",
    }.items()
}
