include $(sort $(wildcard $(BR2_EXTERNAL_KMA_PATH)/package/*/*.mk))
