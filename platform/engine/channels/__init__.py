"""Chat channels: notifications posted to WeCom (企业微信), DingTalk (钉钉) and Feishu (飞书)
group bots, each platform one entry of `platforms.PLATFORMS`, sent by jobs with a token
bucket per channel that folds overflow into a digest (`sending`), kept in a delivery log."""
